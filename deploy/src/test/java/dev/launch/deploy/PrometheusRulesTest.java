package dev.launch.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.devstack.DebianTools;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The alert rules: valid for Prometheus, every alert unit-tested both firing and silent, by promtool. */
class PrometheusRulesTest {
    private static String promtool(Path dir, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(DebianTools.require("promtool", "prometheus").toString());
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "promtool did not end");
        assertEquals(0, p.exitValue(), String.join(" ", args) + ":\n" + out);
        return out;
    }

    @Test
    void theRulesAreValidAndTheirUnitTestsPass() throws Exception {
        Path dir = Kit.rules().getParent();
        String checked = promtool(dir, "check", "rules", "launch-alerts.yml");
        assertTrue(checked.contains("SUCCESS"), checked);
        String tested = promtool(dir, "test", "rules", "launch-alerts.test.yml");
        assertTrue(tested.contains("SUCCESS"), tested);
    }

    @Test
    void theScrapeConfigIsValidAndLoadsTheRules() throws Exception {
        String out = promtool(Kit.deploy().resolve("prometheus"), "check", "config", "prometheus.yml");
        assertTrue(out.contains("rules/launch-alerts.yml"), "prometheus.yml does not load the rules:\n" + out);
    }

    /** Each alert has a test where it fires and one where it is silent: a rule that can never fire is caught. */
    @Test
    void everyAlertIsTestedFiringAndSilent() {
        List<String> alerts = new ArrayList<>();
        for (JsonNode group : Kit.read(Kit.YAML, Kit.rules()).path("groups")) {
            group.path("rules").forEach(r -> alerts.add(r.path("alert").asText()));
        }
        Map<String, boolean[]> seen = new HashMap<>();
        JsonNode tests = Kit.read(Kit.YAML, Kit.rules().resolveSibling("launch-alerts.test.yml"));
        for (JsonNode test : tests.path("tests")) {
            for (JsonNode check : test.path("alert_rule_test")) {
                boolean[] s = seen.computeIfAbsent(check.path("alertname").asText(), k -> new boolean[2]);
                s[check.path("exp_alerts").isEmpty() ? 1 : 0] = true;
            }
        }
        List<String> untested = new ArrayList<>();
        for (String alert : alerts) {
            boolean[] s = seen.getOrDefault(alert, new boolean[2]);
            if (!s[0] || !s[1]) {
                untested.add(alert + (s[0] ? "" : " (never shown firing)") + (s[1] ? "" : " (never shown silent)"));
            }
        }
        assertEquals(List.of(), untested);
        assertTrue(alerts.size() >= 9, "alerts: " + alerts);
    }

    @Test
    void everyMetricTheRulesNameIsDocumented() {
        TreeSet<String> documented = Kit.documentedMetrics();
        TreeSet<String> missing = new TreeSet<>();
        for (JsonNode group : Kit.read(Kit.YAML, Kit.rules()).path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                for (String metric : Kit.metricsOf(rule.path("expr").asText())) {
                    if (!metric.equals("up") && !documented.contains(metric)) {
                        missing.add(rule.path("alert").asText() + ": " + metric);
                    }
                }
            }
        }
        assertEquals(new TreeSet<>(), missing, "metrics not in docs/operations.md's table");
    }
}
