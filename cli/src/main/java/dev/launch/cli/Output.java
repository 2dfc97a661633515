package dev.launch.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;

import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * What a command prints: the API's own answer as JSON or YAML (for scripts: the same fields the REST API
 * documents), or a table for people.
 */
public final class Output {
    public enum Format {
        TABLE, JSON, YAML;

        public static Format parse(String value) {
            try {
                return valueOf(value.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw CliException.usage("output format '" + value + "' is not one of table, json, yaml");
            }
        }
    }

    /** A table column: its header and how a row's cell is read from one item of the answer. */
    public record Column(String header, Function<JsonNode, String> cell) {
        public static Column of(String header, String field) {
            return new Column(header, item -> text(item.path(field)));
        }
    }

    private final Format format;
    private final PrintWriter out;

    public Output(Format format, PrintWriter out) {
        this.format = format;
        this.out = out;
    }

    public Format format() {
        return format;
    }

    public PrintWriter out() {
        return out;
    }

    /** A list answer: a table of {@code columns} with a row per item, or the answer itself. */
    public void list(JsonNode answer, Iterable<JsonNode> items, List<Column> columns) {
        if (format != Format.TABLE) {
            raw(answer);
            return;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(columns.stream().map(Column::header).toArray(String[]::new));
        for (JsonNode item : items) {
            rows.add(columns.stream().map(c -> nonNull(c.cell().apply(item))).toArray(String[]::new));
        }
        int[] widths = new int[columns.size()];
        rows.forEach(row -> {
            for (int i = 0; i < row.length; i++) {
                widths[i] = Math.max(widths[i], row[i].length());
            }
        });
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.length; i++) {
                line.append(i == row.length - 1 ? row[i] : pad(row[i], widths[i] + 2));
            }
            out.println(line.toString().stripTrailing());
        }
        out.flush();
    }

    /** One item: {@code label: value} lines, or the answer itself. */
    public void item(JsonNode answer, List<Column> fields) {
        if (format != Format.TABLE) {
            raw(answer);
            return;
        }
        int width = fields.stream().mapToInt(f -> f.header().length()).max().orElse(0) + 2;
        for (Column field : fields) {
            String value = field.cell().apply(answer);
            if (value != null && !value.isEmpty()) {
                out.println(pad(field.header() + ":", width) + value.replace("\n", "\n" + " ".repeat(width)));
            }
        }
        out.flush();
    }

    public void raw(JsonNode answer) {
        try {
            out.print(format == Format.YAML ? Json.YAML.writeValueAsString(answer)
                    : Json.JSON.writeValueAsString(answer) + "\n");
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        out.flush();
    }

    /** What a change did: {@code line} for people, the API's answer for scripts (json or yaml). */
    public void done(String line, JsonNode answer) {
        if (format == Format.TABLE) {
            say(line);
        } else {
            raw(answer);
        }
    }

    /** A line for people (table output only: scripts reading json or yaml get the answer alone). */
    public void say(String line) {
        if (format == Format.TABLE) {
            out.println(line);
            out.flush();
        }
    }

    public static String text(JsonNode value) {
        if (value == null || value.isMissingNode() || value.isNull()) {
            return "";
        }
        return value.isValueNode() ? value.asText() : value.toString();
    }

    /** How long ago an ISO-8601 instant was, as people say it: {@code 4s}, {@code 3m12s}, {@code 2h05m}, {@code 3d4h}. */
    public static String age(JsonNode at) {
        if (at == null || !at.isTextual()) {
            return "";
        }
        try {
            return duration(Duration.between(Instant.parse(at.asText()), Instant.now()));
        } catch (DateTimeParseException e) {
            return at.asText();
        }
    }

    public static String duration(Duration d) {
        long s = Math.max(0, d.toSeconds());
        if (s < 60) {
            return s + "s";
        }
        if (s < 3600) {
            return (s / 60) + "m" + String.format("%02ds", s % 60);
        }
        if (s < 86400) {
            return (s / 3600) + "h" + String.format("%02dm", (s % 3600) / 60);
        }
        return (s / 86400) + "d" + ((s % 86400) / 3600) + "h";
    }

    private static String pad(String value, int width) {
        return value.length() >= width ? value : value + " ".repeat(width - value.length());
    }

    private static String nonNull(String value) {
        return value == null ? "" : value;
    }
}
