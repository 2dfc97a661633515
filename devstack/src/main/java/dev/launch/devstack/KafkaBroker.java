package dev.launch.devstack;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A real single-node Kafka KRaft broker in its own JVM, started from the classpath the
 * {@code kafka-broker} module resolved (system property or env {@code launch.kafka.classpath.file}).
 * Data lives under the given directory; an already formatted directory is reused (so {@code ./launch up}
 * keeps its topics across restarts).
 */
public final class KafkaBroker implements AutoCloseable {
    private final Process process;
    private final String bootstrapServers;
    private final Path directory;

    private KafkaBroker(Process process, String bootstrapServers, Path directory) {
        this.process = process;
        this.bootstrapServers = bootstrapServers;
        this.directory = directory;
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    public long pid() {
        return process.pid();
    }

    public Path directory() {
        return directory;
    }

    /** Starts a broker listening on 127.0.0.1:{@code port} and waits until it answers admin calls. */
    public static KafkaBroker start(Path directory, int port, int controllerPort, Duration timeout) {
        return start(directory, port, controllerPort, timeout, Map.of());
    }

    /** A broker with {@code settings} added to (or replacing) its server properties, e.g. a short retention. */
    public static KafkaBroker start(Path directory, int port, int controllerPort, Duration timeout,
                                    Map<String, String> settings) {
        try {
            Files.createDirectories(directory);
            String classpath = brokerClasspath();
            Path properties = directory.resolve("server.properties");
            Path data = directory.resolve("data");
            StringBuilder props = new StringBuilder(serverProperties(port, controllerPort, data));
            settings.forEach((k, v) -> props.append(k).append('=').append(v).append('\n'));
            Files.writeString(properties, props.toString());
            Path log4j = directory.resolve("log4j2.properties");
            Files.writeString(log4j, log4jProperties(directory.resolve("broker.log")));
            if (!Files.exists(data.resolve("meta.properties"))) {
                format(classpath, properties, directory);
            }
            List<String> command = new ArrayList<>(javaCommand(classpath, log4j));
            command.add(ParentWatchdog.class.getName());
            command.add("kafka.Kafka");
            command.add(properties.toString());
            Process process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(directory.resolve("broker.out").toFile()))
                    .start();
            String bootstrap = "127.0.0.1:" + port;
            KafkaBroker broker = new KafkaBroker(process, bootstrap, directory);
            broker.awaitReady(timeout);
            return broker;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void awaitReady(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Map<String, Object> config = Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 2000,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 3000);
        try (Admin admin = Admin.create(config)) {
            while (true) {
                if (!process.isAlive()) {
                    throw new IllegalStateException("Kafka broker exited with " + process.exitValue()
                            + "; see " + directory.resolve("broker.out"));
                }
                try {
                    admin.describeCluster().nodes().get(3, TimeUnit.SECONDS);
                    return;
                } catch (Exception notYet) {
                    if (System.nanoTime() > deadline) {
                        close();
                        throw new IllegalStateException("Kafka broker not ready within " + timeout + "; see "
                                + directory.resolve("broker.out"), notYet);
                    }
                }
            }
        }
    }

    private static void format(String classpath, Path properties, Path directory) throws IOException {
        List<String> command = new ArrayList<>(javaCommand(classpath, directory.resolve("log4j2.properties")));
        command.addAll(List.of("kafka.tools.StorageTool", "format", "-t", Uuid.randomUuid().toString(),
                "-c", properties.toString(), "--standalone"));
        Path out = directory.resolve("format.out");
        Process format = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        try {
            if (!format.waitFor(120, TimeUnit.SECONDS) || format.exitValue() != 0) {
                format.destroyForcibly();
                throw new IllegalStateException("formatting Kafka storage failed: " + Files.readString(out));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while formatting Kafka storage", e);
        }
    }

    /**
     * The broker's JVM: {@code LAUNCH_KAFKA_JVM_OPTS} when set (the benchmark runs it with the full JIT, as the
     * services), else a small heap and the quick-starting C1 compiler (tests and {@code ./launch up}).
     */
    private static List<String> javaCommand(String classpath, Path log4j) {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String options = System.getenv("LAUNCH_KAFKA_JVM_OPTS");
        List<String> command = new ArrayList<>(List.of(java));
        command.addAll(options == null || options.isBlank()
                ? List.of("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
                : List.of(options.trim().split("\\s+")));
        command.addAll(List.of("-Djava.awt.headless=true", "-Dlog4j2.configurationFile=" + log4j.toUri(),
                "-cp", classpath + File.pathSeparator + ownLocation()));
        return command;
    }

    private static String ownLocation() {
        try {
            return Path.of(ParentWatchdog.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                    .toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The broker's classpath, written by the {@code kafka-broker} module's build. */
    static String brokerClasspath() throws IOException {
        String file = System.getProperty("launch.kafka.classpath.file", System.getenv("LAUNCH_KAFKA_CLASSPATH_FILE"));
        if (file == null) {
            throw new IllegalStateException("launch.kafka.classpath.file is not set: build the kafka-broker module "
                    + "(mvn -pl kafka-broker generate-resources) and point the property at its "
                    + "target/broker-classpath.txt");
        }
        Path path = Path.of(file);
        if (!Files.exists(path)) {
            throw new IllegalStateException(path + " does not exist: build the kafka-broker module first");
        }
        return Files.readString(path, StandardCharsets.UTF_8).trim();
    }

    static String serverProperties(int port, int controllerPort, Path data) {
        return String.join("\n",
                "process.roles=broker,controller",
                "node.id=1",
                "controller.quorum.bootstrap.servers=127.0.0.1:" + controllerPort,
                "listeners=PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort,
                "advertised.listeners=PLAINTEXT://127.0.0.1:" + port,
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "log.dirs=" + data,
                "num.partitions=1",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=4",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "num.network.threads=2",
                "num.io.threads=4",
                "log.retention.hours=168",
                "") ;
    }

    private static String log4jProperties(Path logFile) {
        return String.join("\n",
                "appender.file.type=File",
                "appender.file.name=file",
                "appender.file.fileName=" + logFile,
                "appender.file.layout.type=PatternLayout",
                "appender.file.layout.pattern=[%d] %p %m (%c)%n",
                "rootLogger.level=INFO",
                "rootLogger.appenderRef.file.ref=file",
                "logger.kafka.name=kafka",
                "logger.kafka.level=WARN",
                "logger.kafka-server.name=kafka.server.KafkaRaftServer",
                "logger.kafka-server.level=INFO",
                "logger.apache.name=org.apache.kafka",
                "logger.apache.level=WARN",
                "");
    }

    /** SIGKILL, as a crash would; returns once the process is gone. */
    public void kill() {
        process.destroyForcibly();
        try {
            process.waitFor(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        if (!process.isAlive()) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
