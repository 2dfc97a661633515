package dev.launch.status.service;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.Topics;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.LaunchTestInfra;
import dev.launch.devstack.SharedInfra;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.is;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** With {@code launch.status.retention.runs} (30 days in tests), ended runs older than it are deleted, nothing else. */
@QuarkusTest
@QuarkusTestResource(value = LaunchTestInfra.class, initArgs = @ResourceArg(name = "database", value = "status"))
class RunPrunerTest {
    @Inject
    RunPruner pruner;
    @Inject
    Pool pool;

    @Test
    void endedRunsOlderThanTheRetentionGoWithTheirHistoryAndLogsTheRestStays() throws Exception {
        String queue = "prune-" + UUID.randomUUID().toString().substring(0, 8);
        String oldFinished = RunIds.next();
        String oldQueued = RunIds.next();
        String recentFinished = RunIds.next();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Map.of("bootstrap.servers",
                SharedInfra.kafkaBootstrap(), "key.serializer", StringSerializer.class.getName(),
                "value.serializer", StringSerializer.class.getName()))) {
            for (String runId : new String[] {oldFinished, oldQueued, recentFinished}) {
                send(producer, EventTypes.RUN_QUEUED, new RunLifecycle(runId, queue, "train", 1, 1, null, null, null,
                        null, null, null, 0L, null, Instant.now(), null, null));
            }
            for (String runId : new String[] {oldFinished, recentFinished}) {
                RunLifecycle held = RunLifecycle.of(runId, queue).withAgent("agent-p", 1);
                send(producer, EventTypes.RUN_CLAIMED, held);
                send(producer, EventTypes.RUN_STARTING, held.withTarget("local-process", null));
                send(producer, EventTypes.RUN_RUNNING, held.withTarget("local-process", "pid:1"));
                send(producer, EventTypes.RUN_FINISHED, held.withExit(0));
            }
        }
        for (String runId : new String[] {oldFinished, recentFinished}) {
            await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId)
                    .then().statusCode(200).body("state", is("FINISHED")));
        }
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + oldQueued)
                .then().statusCode(200));
        pool.preparedQuery("INSERT INTO run_log (run_id, attempt, seq, content) VALUES ($1, 1, 1, 'a line')")
                .execute(Tuple.of(oldFinished)).await().atMost(Duration.ofSeconds(10));
        pool.preparedQuery("UPDATE run SET updated_at = now() - interval '31 days' WHERE run_id = ANY($1)")
                .execute(Tuple.of(new String[] {oldFinished, oldQueued})).await().atMost(Duration.ofSeconds(10));
        double before = pruned();

        long deleted = pruner.prune().await().atMost(Duration.ofSeconds(30));

        assertTrue(deleted >= 1, "deleted " + deleted);
        given().when().get("/api/v1/runs/" + oldFinished).then().statusCode(404);
        given().when().get("/api/v1/runs/" + oldQueued).then().statusCode(200).body("state", is("QUEUED"));
        given().when().get("/api/v1/runs/" + recentFinished).then().statusCode(200).body("state", is("FINISHED"));
        for (String table : new String[] {"run_history", "run_log"}) {
            long left = pool.preparedQuery("SELECT count(*) FROM " + table + " WHERE run_id = $1")
                    .execute(Tuple.of(oldFinished)).await().atMost(Duration.ofSeconds(10)).iterator().next()
                    .getLong(0);
            assertEquals(0, left, table + " rows of the pruned run");
        }
        given().when().get("/api/v1/runs/counts?queue=" + queue).then().statusCode(200)
                .body("FINISHED", is(1)).body("QUEUED", is(1));
        assertEquals(before + deleted, pruned(), "launch_status_pruned_runs_total");
    }

    private static void send(KafkaProducer<String, String> producer, String type, RunLifecycle fact)
            throws Exception {
        producer.send(new ProducerRecord<>(Topics.RUNS, fact.runId(),
                Events.encode(EventEnvelope.of(type, fact.runId(), fact)))).get(10, TimeUnit.SECONDS);
    }

    private static double pruned() {
        return given().when().get("/q/metrics").then().statusCode(200).extract().asString().lines()
                .filter(l -> l.startsWith("launch_status_pruned_runs_total ")).mapToDouble(l ->
                        Double.parseDouble(l.substring(l.indexOf(' ') + 1))).findFirst().orElse(-1);
    }
}
