package dev.launch.devstack;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * One Kafka broker and one PostgreSQL per JVM, started on first use (in parallel) and stopped when the JVM
 * exits. The state lives in system properties, not static fields, because Quarkus loads test resources again
 * in a fresh class loader on every restart.
 */
public final class SharedInfra {
    public static final String BOOTSTRAP = "launch.test.kafka.bootstrap";
    public static final String PG_PORT = "launch.test.pg.port";
    /**
     * Interned strings are one object per JVM whatever the class loader, so this serialises start-up across
     * Quarkus restarts. (Not the system Properties object: starting PostgreSQL sets a system property from
     * another thread while the lock is held.)
     */
    private static final Object LOCK = "dev.launch.devstack.SharedInfra.lock".intern();

    private SharedInfra() {
    }

    /** Bootstrap servers of the JVM's broker, starting it (and PostgreSQL) if needed. */
    public static String kafkaBootstrap() {
        start();
        return System.getProperty(BOOTSTRAP);
    }

    public static int postgresPort() {
        start();
        return Integer.getInteger(PG_PORT);
    }

    /** Creates {@code database} if missing; returns the server's port. */
    public static int database(String database) {
        start();
        int port = Integer.getInteger(PG_PORT);
        synchronized (LOCK) {
            Postgres.ensureDatabase(port, database);
        }
        return port;
    }

    private static void start() {
        synchronized (LOCK) {
            if (System.getProperty(BOOTSTRAP) != null) {
                return;
            }
            Path root = Path.of(System.getProperty("launch.test.work-dir", "target/launch-test"))
                    .resolve("infra-" + ProcessHandle.current().pid());
            CompletableFuture<Postgres> pg = CompletableFuture.supplyAsync(
                    () -> Postgres.start(root.resolve("postgres"), Ports.free(), false));
            KafkaBroker broker = KafkaBroker.start(root.resolve("kafka"), Ports.free(), Ports.free(),
                    Duration.ofSeconds(90));
            dev.launch.messaging.TopicAdmin.ensureShared(broker.bootstrapServers());
            Postgres postgres = pg.join();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                broker.close();
                postgres.close();
            }, "launch-test-infra-stop"));
            System.setProperty(PG_PORT, String.valueOf(postgres.port()));
            System.setProperty(BOOTSTRAP, broker.bootstrapServers());
        }
    }
}
