package dev.launch.bench;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;

/** The figures of one benchmark run, as a terminal table and as {@code docs/benchmarks.md}. */
final class Report {
    record Row(String section, String metric, String value, String note) {
    }

    private final List<Row> rows = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();
    private final Instant began = Instant.now().truncatedTo(ChronoUnit.SECONDS);
    double kafkaProduceRate = Double.NaN;
    double kafkaE2eP50 = Double.NaN;
    double dispatchP50 = Double.NaN;
    double throughputOneQueue = Double.NaN;
    double throughputBatched = Double.NaN;

    void row(String section, String metric, String value, String note) {
        Row row = new Row(section, metric, value, note);
        rows.add(row);
        System.out.printf("   %s | %s | %s%n", metric, value, note);
    }

    void note(String note) {
        notes.add(note);
    }

    /** Aligned plain text, one block per section. */
    String table() {
        int metric = rows.stream().mapToInt(r -> r.metric().length()).max().orElse(10);
        int value = rows.stream().mapToInt(r -> r.value().length()).max().orElse(10);
        StringBuilder out = new StringBuilder();
        String section = null;
        for (Row row : rows) {
            if (!row.section().equals(section)) {
                section = row.section();
                out.append(section).append('\n');
            }
            out.append(String.format("  %-" + metric + "s  %" + value + "s  %s%n", row.metric(), row.value(),
                    row.note()));
        }
        notes.forEach(n -> out.append(n).append('\n'));
        return out.toString();
    }

    String markdown(String machine, String settings) {
        StringBuilder out = new StringBuilder();
        out.append("# Benchmarks\n\n")
                .append("Written by `./launch bench` on ").append(began).append(". Run it again to refresh this page; ")
                .append("`./launch bench --quick` is a smoke run with smaller sizes.\n\n")
                .append("## Machine\n\n").append(machine).append("\n\n")
                .append("## Settings\n\n").append(settings).append("\n\n")
                .append("## Figures\n\n");
        String section = null;
        for (Row row : rows) {
            if (!row.section().equals(section)) {
                section = row.section();
                out.append("\n### ").append(section).append("\n\n| Measure | Value | Notes |\n|---|---|---|\n");
            }
            out.append("| ").append(row.metric()).append(" | ").append(row.value()).append(" | ")
                    .append(row.note()).append(" |\n");
        }
        if (!notes.isEmpty()) {
            out.append('\n');
            notes.forEach(n -> out.append("- ").append(n).append('\n'));
        }
        return out.toString();
    }
}
