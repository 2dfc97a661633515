package dev.launch.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** The deployment kit's files, and what the tests read from them. */
final class Kit {
    static final ObjectMapper JSON = new ObjectMapper();
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Pattern METRIC = Pattern.compile("\\b(launch_[a-z0-9_]+|up)\\b");
    private static final Pattern TABLE_ROW = Pattern.compile("(?m)^\\| `([a-z_][a-z0-9_]*)` \\|");

    private Kit() {
    }

    /** The module directory ({@code deploy/}), whatever directory Maven runs the tests in. */
    static Path deploy() {
        Path here = Path.of("").toAbsolutePath();
        return Files.isDirectory(here.resolve("prometheus")) ? here : here.resolve("deploy");
    }

    static Path rules() {
        return deploy().resolve("prometheus/rules/launch-alerts.yml");
    }

    static List<Path> dashboards() {
        try (Stream<Path> files = Files.list(deploy().resolve("grafana/dashboards"))) {
            return files.filter(f -> f.toString().endsWith(".json")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static JsonNode read(ObjectMapper mapper, Path file) {
        try {
            return mapper.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The metric names of the table in docs/operations.md (its rows start with a name in backquotes). */
    static TreeSet<String> documentedMetrics() {
        try {
            Matcher m = TABLE_ROW.matcher(Files.readString(deploy().getParent().resolve("docs/operations.md")));
            TreeSet<String> names = new TreeSet<>();
            while (m.find()) {
                names.add(m.group(1));
            }
            return names;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The metrics a PromQL expression names, as documented: a histogram's {@code _bucket}, {@code _count} and
     * {@code _sum} series count as the histogram.
     */
    static TreeSet<String> metricsOf(String expr) {
        TreeSet<String> names = new TreeSet<>();
        Matcher m = METRIC.matcher(expr.replaceAll("\"[^\"]*\"", "\"\""));
        while (m.find()) {
            names.add(m.group(1).replaceAll("_(bucket|count|sum)$", ""));
        }
        return names;
    }
}
