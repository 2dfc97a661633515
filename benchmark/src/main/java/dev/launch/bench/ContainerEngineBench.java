package dev.launch.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The container engine the local-container scenario uses, measured alone first (as Kafka's tools are): the
 * {@code LAUNCH_CONTAINER_ENGINE} command, else podman (with runc and no default ulimits, what works on these
 * machines) or docker from PATH; the image {@code LAUNCH_BENCH_IMAGE}, else a busybox image imported from
 * {@code /bin/busybox} (Debian's busybox-static), so nothing is pulled.
 */
final class ContainerEngineBench {
    final List<String> engine;
    final String image;

    private ContainerEngineBench(List<String> engine, String image) {
        this.engine = engine;
        this.image = image;
    }

    /** The engine and image, or null (with the reason printed) when this machine has none. */
    static ContainerEngineBench find(Path work) throws IOException, InterruptedException {
        String configured = System.getenv("LAUNCH_CONTAINER_ENGINE");
        List<String> engine;
        if (configured != null && !configured.isBlank()) {
            engine = List.of(configured.trim().split("\\s+"));
        } else if (onPath("podman")) {
            Path conf = work.resolve("containers.conf");
            Files.writeString(conf, "[containers]\ndefault_ulimits = []\n[engine]\n"
                    + (Files.isExecutable(Path.of("/usr/sbin/runc")) ? "runtime = \"runc\"\n" : ""));
            engine = List.of("env", "CONTAINERS_CONF=" + conf, "podman");
        } else if (onPath("docker")) {
            engine = List.of("docker");
        } else {
            return null;
        }
        String image = System.getenv("LAUNCH_BENCH_IMAGE");
        ContainerEngineBench bench = new ContainerEngineBench(engine, image);
        if (image == null || image.isBlank()) {
            if (!Files.isExecutable(Path.of("/bin/busybox"))) {
                return null;
            }
            bench = new ContainerEngineBench(engine, "localhost/launch-bench-busybox:1");
            if (bench.call(List.of("image", "exists", bench.image)) != 0) {
                Path root = Files.createDirectories(work.resolve("busybox-root/bin"));
                Files.copy(Path.of("/bin/busybox"), root.resolve("busybox"),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                for (String applet : List.of("sh", "true", "echo", "sleep")) {
                    Files.deleteIfExists(root.resolve(applet));
                    Files.createSymbolicLink(root.resolve(applet), Path.of("busybox"));
                }
                Path tar = work.resolve("busybox.tar");
                if (new ProcessBuilder("tar", "-C", root.getParent().toString(), "-cf", tar.toString(), ".")
                        .inheritIO().start().waitFor() != 0 || bench.call(List.of("import", tar.toString(), bench.image)) != 0) {
                    return null;
                }
            }
        }
        return bench;
    }

    /** The engine command for the agent's {@code LAUNCH_CONTAINER_ENGINE}. */
    String command() {
        return String.join(" ", engine);
    }

    /** Creates and starts {@code n} containers of {@code true} one after another; returns the seconds taken. */
    double createStart(int n) throws IOException, InterruptedException {
        List<String> names = new ArrayList<>();
        long began = System.nanoTime();
        for (int i = 0; i < n; i++) {
            String name = "launch-bench-engine-" + ProcessHandle.current().pid() + "-" + i;
            names.add(name);
            if (call(List.of("create", "--name", name, "--pull", "never", image, "true")) != 0
                    || call(List.of("start", name)) != 0) {
                throw new IOException("the engine could not create and start a container of " + image);
            }
        }
        double seconds = (System.nanoTime() - began) / 1e9;
        List<String> rm = new ArrayList<>(List.of("rm", "-f"));
        rm.addAll(names);
        call(rm);
        return seconds;
    }

    int call(List<String> args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(engine);
        command.addAll(args);
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        if (p.exitValue() != 0 && !args.get(0).equals("image")) {
            System.err.println(String.join(" ", command) + ": " + out.strip());
        }
        return p.exitValue();
    }

    Map<String, String> agentSettings() {
        return Map.of("LAUNCH_CONTAINER_ENGINE", command(), "LAUNCH_CONTAINER_PULL", "never");
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
