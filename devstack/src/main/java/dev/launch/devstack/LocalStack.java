package dev.launch.devstack;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;

/**
 * The infrastructure of {@code ./launch up}: Kafka and PostgreSQL on fixed loopback ports with their data
 * kept under the state directory, running until this process is told to stop (SIGTERM).
 * Usage: {@code LocalStack <state dir> <kafka port> <kafka controller port> <postgres port>}.
 * Writes {@code <state dir>/infra.ready} once both answer.
 */
public final class LocalStack {
    private LocalStack() {
    }

    public static void main(String[] args) throws Exception {
        Path state = Path.of(args[0]);
        int kafkaPort = Integer.parseInt(args[1]);
        int controllerPort = Integer.parseInt(args[2]);
        int pgPort = Integer.parseInt(args[3]);
        Files.deleteIfExists(state.resolve("infra.ready"));
        CompletableFuture<Postgres> pgStart = CompletableFuture.supplyAsync(
                () -> Postgres.start(state.resolve("postgres"), pgPort, true));
        KafkaBroker broker = KafkaBroker.start(state.resolve("kafka"), kafkaPort, controllerPort, Duration.ofSeconds(90));
        Postgres postgres;
        try {
            postgres = pgStart.join();
        } catch (RuntimeException e) {
            broker.close();
            throw e;
        }
        dev.launch.messaging.TopicAdmin.ensureShared(broker.bootstrapServers());
        for (String db : new String[]{"jobs", "queues", "status"}) {
            postgres.ensureDatabase(db);
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            broker.close();
            postgres.close();
            stopped.countDown();
        }, "local-stack-stop"));
        Files.writeString(state.resolve("infra.ready"), "kafka=" + broker.bootstrapServers() + "\npostgres=127.0.0.1:"
                + postgres.port() + "\n");
        System.out.println("Kafka " + broker.bootstrapServers() + " and PostgreSQL 127.0.0.1:" + postgres.port()
                + " ready");
        stopped.await();
    }
}
