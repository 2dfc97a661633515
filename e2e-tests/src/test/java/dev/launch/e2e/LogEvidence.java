package dev.launch.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The lines of the services' and agents' logs ({@code target/e2e-logs}) that mention a run, for a failure
 * message: CI shows a test's message, not the files it left behind.
 */
final class LogEvidence {
    private static final Path LOGS = Path.of("target", "e2e-logs");

    private LogEvidence() {
    }

    /** At most {@code max} lines (the last ones) naming {@code needle}, each prefixed with its file's name. */
    static String mentioning(String needle, int max) {
        List<String> found = new ArrayList<>();
        try (Stream<Path> files = Files.list(LOGS)) {
            for (Path file : files.sorted().toList()) {
                try (Stream<String> lines = Files.lines(file, StandardCharsets.UTF_8)) {
                    String name = file.getFileName().toString();
                    lines.filter(l -> l.contains(needle)).forEach(l -> found.add(name + ": " + l));
                } catch (UncheckedIOException e) {
                    found.add(file.getFileName() + ": (unreadable: " + e.getCause() + ")");
                }
            }
        } catch (IOException e) {
            return "(no logs: " + e + ")";
        }
        List<String> last = found.subList(Math.max(0, found.size() - max), found.size());
        return (found.size() > max ? "… " + (found.size() - max) + " earlier lines\n" : "") + String.join("\n", last);
    }
}
