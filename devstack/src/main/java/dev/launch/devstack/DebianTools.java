package dev.launch.devstack;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Command-line tools tests need from Debian packages ({@code promtool} and {@code prometheus} from
 * {@code prometheus}, ...). Under {@code CI=true} a missing tool fails the test; elsewhere it skips it with the
 * package to install, so {@code mvn verify} passes on a machine with only Java and Maven.
 */
public final class DebianTools {
    private DebianTools() {
    }

    /** The tool's path on PATH (or in /usr/bin, /usr/sbin), or null. */
    public static Path find(String command) {
        String path = System.getenv().getOrDefault("PATH", "") + ":/usr/bin:/usr/sbin:/bin:/sbin";
        for (String dir : path.split(":")) {
            if (!dir.isEmpty()) {
                Path candidate = Path.of(dir, command);
                if (Files.isExecutable(candidate)) {
                    return candidate;
                }
            }
        }
        return null;
    }

    /** The tool's path; the calling test is skipped (or fails under CI=true) when it is missing. */
    public static Path require(String command, String debianPackage) {
        Path found = find(command);
        if (found == null) {
            String missing = "needs " + command + ": apt-get install -y " + debianPackage;
            if ("true".equals(System.getenv("CI"))) {
                throw new AssertionError("CI=true and this test " + missing);
            }
            org.junit.jupiter.api.Assumptions.abort("skipped: this test " + missing);
        }
        return found;
    }
}
