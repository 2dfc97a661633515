package dev.launch.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A packaged Launch service running as its own process, as users run it. */
public final class ServiceProcess implements AutoCloseable {
    private final String name;
    private final Process process;
    private final int port;
    private final Path log;
    private final String module;
    private final Map<String, String> env;

    private ServiceProcess(String name, Process process, int port, Path log, String module, Map<String, String> env) {
        this.name = name;
        this.process = process;
        this.port = port;
        this.log = log;
        this.module = module;
        this.env = Map.copyOf(env);
    }

    /** The same service started again, on the same port with the same settings (this one must be gone). */
    public ServiceProcess restart() {
        if (process.isAlive()) {
            throw new IllegalStateException(name + " is still running");
        }
        return start(name, module, port, env);
    }

    /** Starts {@code <repo>/<module>/target/quarkus-app/quarkus-run.jar} with {@code env}. */
    public static ServiceProcess start(String name, String module, int port, Map<String, String> env) {
        Path root = Path.of(System.getProperty("launch.repo.root", ".."));
        Path jar = root.resolve(module).resolve("target/quarkus-app/quarkus-run.jar");
        if (!Files.exists(jar)) {
            throw new IllegalStateException(jar + " is missing: package the services first (mvn package)");
        }
        Path logs = Path.of("target", "e2e-logs");
        try {
            Files.createDirectories(logs);
            Path log = logs.resolve(name + ".log");
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            ProcessBuilder builder = new ProcessBuilder(List.of(java, "-Xmx256m", "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1", "-jar", jar.toString()))
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            builder.environment().putAll(env);
            return new ServiceProcess(name, builder.start(), port, log, module, env);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The process's output. */
    public Path log() {
        return log;
    }

    public String name() {
        return name;
    }

    public String url() {
        return "http://127.0.0.1:" + port;
    }

    public long pid() {
        return process.pid();
    }

    /** Waits until {@code /q/health/ready} answers 200. */
    public ServiceProcess awaitReady(Duration timeout) {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException(name + " exited with " + process.exitValue() + "; see " + log);
            }
            try {
                HttpResponse<String> response = client.send(HttpRequest.newBuilder(URI.create(url() + "/q/health/ready"))
                        .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
                if (response.statusCode() == 200) {
                    return this;
                }
            } catch (IOException e) {
                // not listening yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            try {
                process.waitFor(200, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        throw new IllegalStateException(name + " not ready within " + timeout + "; see " + log);
    }

    /**
     * Writes the process' threads next to its log ({@code <log>.threads-N.txt}, by {@code jcmd Thread.print}) and
     * returns where, so that a test that gives up on a condition leaves what the service was doing.
     */
    public Path dumpThreads() {
        Path out = log.resolveSibling(log.getFileName() + ".threads-" + System.currentTimeMillis() + ".txt");
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        try {
            new ProcessBuilder(jcmd.toString(), String.valueOf(process.pid()), "Thread.print")
                    .redirectErrorStream(true).redirectOutput(out.toFile()).start().waitFor(30, TimeUnit.SECONDS);
        } catch (IOException e) {
            return Path.of("(no thread dump: " + e.getMessage() + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return out;
    }

    /** Sends SIGTERM and returns at once (the process shuts down by itself; {@link #close} waits for it). */
    public void terminate() {
        process.destroy();
    }

    /** SIGKILL, as a crash would: the process gets no chance to clean up. */
    public void kill() {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Whether the process is still there. */
    public boolean isAlive() {
        return process.isAlive();
    }

    /** SIGTERM, as {@code ./launch down} does; SIGKILL if it has not exited within 30 s. */
    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
