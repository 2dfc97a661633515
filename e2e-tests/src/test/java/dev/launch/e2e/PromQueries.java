package dev.launch.e2e;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a PromQL expression of the kit reads: its metric selectors, and for each the labels its series must carry
 * (those it matches on, and those the expression groups or joins by; {@code le} only for histogram buckets).
 */
final class PromQueries {
    private static final Pattern SELECTOR = Pattern.compile("\\b((?:launch_[a-z0-9_]+)|up)\\b(\\{[^}]*\\})?");
    private static final Pattern GROUPING = Pattern.compile("\\b(?:by|on|without|ignoring)\\s*\\(([^)]*)\\)");
    private static final Pattern QUOTED = Pattern.compile("\"(?:[^\"\\\\]|\\\\.)*\"");
    private static final Pattern MATCHER_LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)\\s*(?:=~|!~|!=|=)");

    private PromQueries() {
    }

    /** Each selector of {@code expr} (a metric with its matchers), with the labels its series must have. */
    static Map<String, Set<String>> selectors(String expr) {
        Set<String> grouped = new TreeSet<>();
        Matcher g = GROUPING.matcher(expr);
        while (g.find()) {
            for (String label : g.group(1).split(",")) {
                if (!label.isBlank()) {
                    grouped.add(label.trim());
                }
            }
        }
        // metric names inside quoted label values are not selectors
        boolean[] quoted = new boolean[expr.length()];
        Matcher q = QUOTED.matcher(expr);
        while (q.find()) {
            for (int i = q.start(); i < q.end(); i++) {
                quoted[i] = true;
            }
        }
        Set<String> found = new LinkedHashSet<>();
        Matcher s = SELECTOR.matcher(expr);
        while (s.find()) {
            if (!quoted[s.start()]) {
                found.add(s.group(1) + (s.group(2) == null ? "" : s.group(2)));
            }
        }
        Map<String, Set<String>> out = new LinkedHashMap<>();
        for (String selector : found) {
            Set<String> needed = new TreeSet<>();
            int brace = selector.indexOf('{');
            if (brace >= 0) {
                Matcher m = MATCHER_LABEL.matcher(QUOTED.matcher(selector.substring(brace)).replaceAll("\"\""));
                while (m.find()) {
                    needed.add(m.group(1));
                }
            }
            String metric = brace >= 0 ? selector.substring(0, brace) : selector;
            for (String label : grouped) {
                if (!label.equals("le") || metric.endsWith("_bucket")) {
                    needed.add(label);
                }
            }
            out.put(selector, needed);
        }
        return out;
    }
}
