package dev.launch.devstack;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real container engine for tests: Debian's {@code podman} with {@code runc} and a containers.conf without
 * default ulimits (what works on these machines; see the platform notes), and a busybox image made locally from
 * {@code busybox-static}, so nothing is pulled. Tests that need it call {@link #require()}: under {@code CI=true}
 * a missing engine fails the test, elsewhere it skips it with the packages to install.
 */
public final class Podman {
    /** The image the tests run: busybox with sh, echo, sleep, cat, env, ls, true, false, yes, head, seq. */
    public static final String IMAGE = "localhost/launch-test-busybox:1";
    private static final Object LOCK = "dev.launch.devstack.Podman.lock".intern();
    private static final String MISSING = "needs a container engine: apt-get install -y podman runc busybox-static";

    private Podman() {
    }

    /** Whether podman and busybox are installed. */
    public static boolean available() {
        return onPath("podman") && Files.isExecutable(Path.of("/bin/busybox"));
    }

    /** Skips the calling test (or fails it under CI=true) when the engine is missing; else readies the image. */
    public static void require() {
        if (!available()) {
            if ("true".equals(System.getenv("CI"))) {
                throw new AssertionError("CI=true and this test " + MISSING);
            }
            org.junit.jupiter.api.Assumptions.abort("skipped: this test " + MISSING);
        }
        image();
    }

    /**
     * The engine command for {@code LAUNCH_CONTAINER_ENGINE}: podman with this machine's working settings
     * (runc, no default ulimits), passed through {@code env} so the agent needs nothing else.
     */
    public static String engineCommand() {
        return "env CONTAINERS_CONF=" + conf() + " podman";
    }

    /** Runs the engine with {@code args}; its output (both streams), or an exception naming the failure. */
    public static String run(String... args) {
        List<String> command = new ArrayList<>(List.of(engineCommand().split(" ")));
        command.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException(String.join(" ", command) + " failed: " + out);
            }
            return out;
        } catch (IOException e) {
            throw new IllegalStateException("cannot run podman: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** Names of the containers (running or not) with {@code label=value}. */
    public static List<String> containersLabelled(String label, String value) {
        return run("ps", "-a", "--filter", "label=" + label + "=" + value, "--format", "{{.Names}}").lines()
                .map(String::strip).filter(s -> !s.isEmpty()).toList();
    }

    private static Path conf() {
        Path file = Path.of(System.getProperty("java.io.tmpdir"), "launch-test-containers.conf");
        synchronized (LOCK) {
            if (!Files.exists(file)) {
                String runtime = Files.isExecutable(Path.of("/usr/sbin/runc")) ? "runtime = \"runc\"\n" : "";
                try {
                    Path next = Files.createTempFile(file.getParent(), "containers", ".conf");
                    Files.writeString(next, "[containers]\ndefault_ulimits = []\n[engine]\n" + runtime);
                    Files.move(next, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                            java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException e) {
                    throw new IllegalStateException("cannot write " + file, e);
                }
            }
        }
        return file;
    }

    /** Imports the busybox image once per machine (a rootfs of /bin/busybox and its applet links). */
    private static void image() {
        synchronized (LOCK) {
            if (System.getProperty("launch.test.podman.image") != null) {
                return;
            }
            try {
                run("image", "exists", IMAGE);
            } catch (IllegalStateException missing) {
                try {
                    Path root = Files.createTempDirectory("busybox-root");
                    Path bin = Files.createDirectories(root.resolve("bin"));
                    Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
                    for (String applet : List.of("sh", "echo", "sleep", "cat", "env", "ls", "true", "false", "yes",
                            "head", "seq", "pwd", "touch", "mkdir", "rm", "kill", "trap", "dd", "tr")) {
                        Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
                    }
                    Files.createDirectories(root.resolve("tmp"));
                    Path tar = Files.createTempFile("busybox", ".tar");
                    Process p = new ProcessBuilder("tar", "-C", root.toString(), "-cf", tar.toString(), ".")
                            .redirectErrorStream(true).start();
                    if (p.waitFor() != 0) {
                        throw new IllegalStateException("tar failed: " + new String(p.getInputStream().readAllBytes()));
                    }
                    run("import", tar.toString(), IMAGE);
                } catch (IOException e) {
                    throw new IllegalStateException("cannot make the busybox image", e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted", e);
                }
            }
            System.setProperty("launch.test.podman.image", IMAGE);
        }
    }

    private static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }
}
