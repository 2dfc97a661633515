package dev.launch.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * CPU time used by each part of the stack on this machine (Linux {@code /proc}), so a figure can say where
 * the time went: the services, the agents, the broker, PostgreSQL and the load generator, all sharing the
 * machine's cores.
 */
final class CpuMeter {
    /** Parts of the stack, recognised by their command lines. */
    private static final Map<String, List<String>> PARTS = new LinkedHashMap<>();

    static {
        PARTS.put("load generator", List.of("dev.launch.bench.Benchmark"));
        PARTS.put("agent", List.of("agent-service/target/quarkus-app"));
        PARTS.put("queue service", List.of("queue-service/target/quarkus-app"));
        PARTS.put("status service", List.of("status-service/target/quarkus-app"));
        PARTS.put("job service", List.of("job-service/target/quarkus-app"));
        PARTS.put("Kafka broker", List.of("kafka.Kafka"));
        PARTS.put("PostgreSQL", List.of("bin/postgres", "postgres: "));
    }

    private static final long TICKS_PER_SECOND = 100; // USER_HZ on Linux

    /** CPU milliseconds used so far by each part (processes alive now). */
    static Map<String, Long> snapshot() {
        Map<String, Long> used = new LinkedHashMap<>();
        PARTS.keySet().forEach(part -> used.put(part, 0L));
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit)).forEach(p -> {
                try {
                    String cmdline = Files.readString(p.resolve("cmdline")).replace('\0', ' ');
                    for (Map.Entry<String, List<String>> part : PARTS.entrySet()) {
                        if (part.getValue().stream().anyMatch(cmdline::contains)) {
                            used.merge(part.getKey(), millis(Files.readString(p.resolve("stat"))), Long::sum);
                            break;
                        }
                    }
                } catch (IOException | RuntimeException gone) {
                    // the process ended meanwhile
                }
            });
        } catch (IOException e) {
            // not Linux: no figures
        }
        return used;
    }

    /** utime + stime of a {@code /proc/<pid>/stat} line, in milliseconds. */
    static long millis(String stat) {
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        long ticks = Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
        return ticks * 1000 / TICKS_PER_SECOND;
    }

    /** CPU milliseconds each part used between two snapshots (parts whose processes ended count what is left). */
    static Map<String, Long> between(Map<String, Long> before, Map<String, Long> after) {
        Map<String, Long> used = new LinkedHashMap<>();
        after.forEach((part, ms) -> used.put(part, Math.max(0, ms - before.getOrDefault(part, 0L))));
        return used;
    }
}
