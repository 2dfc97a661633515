package dev.launch.bench;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Agents the benchmark starts, and Kafka's own tools, as processes of their own. */
final class Processes {
    private final String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    private final String kafka;
    private final Path agentJar;
    private final String brokerClasspath;
    private final Path logs;
    private final List<String> jvmOptions;

    Processes(String kafka, Path agentJar, Path brokerClasspathFile, Path logs, List<String> jvmOptions)
            throws IOException {
        this.kafka = kafka;
        this.agentJar = agentJar;
        this.brokerClasspath = Files.readString(brokerClasspathFile).trim();
        this.logs = Files.createDirectories(logs);
        this.jvmOptions = jvmOptions;
    }

    /** A running agent: its process and its HTTP port. */
    record Agent(Process process, int port, String id) implements AutoCloseable {
        /** Waits until {@code /q/health/ready} answers 200. */
        void awaitReady(Duration atMost) throws IOException, InterruptedException {
            HttpClient client = HttpClient.newHttpClient();
            long deadline = System.nanoTime() + atMost.toNanos();
            while (System.nanoTime() < deadline) {
                if (!process.isAlive()) {
                    throw new IOException("agent " + id + " exited with " + process.exitValue());
                }
                try {
                    if (client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready"))
                            .build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                        return;
                    }
                } catch (IOException notYet) {
                    // not listening yet
                }
                Thread.sleep(50);
            }
            throw new IOException("agent " + id + " not ready within " + atMost);
        }

        @Override
        public void close() {
            process.destroy();
            try {
                if (!process.waitFor(60, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    Agent agent(String id, List<String> queues, int maxJobs, Path workspace) throws IOException {
        return agent(id, queues, maxJobs, workspace, Map.of());
    }

    /** An agent with extra settings ({@code LAUNCH_CONTAINER_ENGINE} ...). */
    Agent agent(String id, List<String> queues, int maxJobs, Path workspace, Map<String, String> settings)
            throws IOException {
        int port = freePort();
        List<String> command = new ArrayList<>(List.of(java));
        command.addAll(jvmOptions);
        // in the jar's directory, as ./launch runs it: the AppCDS archive holds the class path relative to it
        command.addAll(List.of("-jar", agentJar.getFileName().toString()));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .directory(agentJar.toAbsolutePath().getParent().toFile())
                .redirectOutput(logs.resolve(id + ".log").toAbsolutePath().toFile());
        builder.environment().putAll(Map.of("LAUNCH_KAFKA_BOOTSTRAP", kafka, "LAUNCH_AGENT_QUEUES",
                String.join(",", queues), "LAUNCH_AGENT_MAX_JOBS", String.valueOf(maxJobs), "LAUNCH_AGENT_ID", id,
                "LAUNCH_AGENT_HTTP_PORT", String.valueOf(port), "LAUNCH_AGENT_WORKSPACE", workspace.toAbsolutePath().toString(),
                "LAUNCH_HTTP_HOST", "127.0.0.1"));
        builder.environment().putAll(settings);
        return new Agent(builder.start(), port, id);
    }

    /** Runs a Kafka tool class from the broker's classpath; returns its output. */
    String kafkaTool(String mainClass, List<String> args, Duration atMost) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(java, "-Xmx512m", "-cp", brokerClasspath, mainClass));
        command.addAll(args);
        Path out = logs.resolve(mainClass.substring(mainClass.lastIndexOf('.') + 1) + ".out");
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        if (!process.waitFor(atMost.toSeconds(), TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IOException(mainClass + " did not finish within " + atMost);
        }
        String output = Files.readString(out);
        if (process.exitValue() != 0) {
            throw new IOException(mainClass + " failed: " + output);
        }
        return output;
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
