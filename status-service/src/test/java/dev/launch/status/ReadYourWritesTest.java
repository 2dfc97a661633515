package dev.launch.status;

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
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.is;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Read-your-writes (ADR 0004): a run whose RunQueued is in Kafka but not yet in the read model is waited for, by
 * its 202's consistency token or by its recent run id, never answered 404; a read model held back longer than
 * {@code launch.status.consistency-wait} answers 503 with Retry-After. The read model is held back for certain by
 * a table lock on {@code run} that its writes wait on (reads are not blocked by it), so the tests do not depend
 * on how fast anything is.
 */
@QuarkusTest
@QuarkusTestResource(value = LaunchTestInfra.class, initArgs = @ResourceArg(name = "database", value = "status"))
class ReadYourWritesTest {
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static KafkaProducer<String, String> producer;
    /** writes RunQueued as the queue service does: in a transaction */
    private static KafkaProducer<String, String> enqueuer;

    @TestHTTPResource("/")
    URL base;

    @BeforeAll
    static void connect() {
        producer = new KafkaProducer<>(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap(), "acks", "all",
                "key.serializer", StringSerializer.class.getName(), "value.serializer", StringSerializer.class.getName()));
        enqueuer = new KafkaProducer<>(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap(),
                "transactional.id", "ryw-test-" + UUID.randomUUID(),
                "key.serializer", StringSerializer.class.getName(), "value.serializer", StringSerializer.class.getName()));
        enqueuer.initTransactions();
    }

    @AfterAll
    static void disconnect() {
        producer.close();
        enqueuer.close();
    }

    private static RecordMetadata queued(String runId, String queue) throws Exception {
        RunLifecycle fact = new RunLifecycle(runId, queue, "train", 1, 1, null, null, null, null, null, null, 0L,
                null, Instant.now(), null, null);
        enqueuer.beginTransaction();
        var written = enqueuer.send(new ProducerRecord<>(Topics.RUNS, runId,
                Events.encode(EventEnvelope.of(EventTypes.RUN_QUEUED, runId, fact))));
        enqueuer.commitTransaction();
        return written.get(10, TimeUnit.SECONDS);
    }

    private static String token(RecordMetadata written) {
        return "runs:" + written.partition() + ":" + written.offset();
    }

    /** Holds every write to the read model's run table until closed; reads go on. */
    private static final class HeldReadModel implements AutoCloseable {
        final Connection connection;

        HeldReadModel() throws Exception {
            connection = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + SharedInfra.postgresPort()
                    + "/status", "postgres", "postgres");
            connection.setAutoCommit(false);
            try (Statement s = connection.createStatement()) {
                s.execute("LOCK TABLE run IN EXCLUSIVE MODE");
            }
        }

        /** Whether the status service's consumer is waiting on the lock (it has the fact and cannot store it). */
        boolean writerWaits() throws Exception {
            try (Statement s = connection.createStatement();
                 ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_locks l JOIN pg_class c ON l.relation = "
                         + "c.oid WHERE c.relname = 'run' AND NOT l.granted")) {
                rs.next();
                return rs.getInt(1) > 0;
            }
        }

        @Override
        public void close() throws Exception {
            connection.rollback();
            connection.close();
        }
    }

    private CompletableFuture<HttpResponse<String>> getAsync(String path, String token) {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base.toString()).resolve(path));
        if (token != null) {
            request.header("Launch-Consistency", token);
        }
        return HTTP.sendAsync(request.GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private double waits() {
        String metrics = given().when().get("/q/metrics").then().statusCode(200).extract().asString();
        return metrics.lines().filter(l -> l.startsWith("launch_status_consistency_waits "))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.indexOf(' ') + 1))).findFirst().orElse(0);
    }

    @Test
    void aRunNotYetStoredIsWaitedForByItsTokenOrItsRecentIdNeverA404() throws Exception {
        String queue = "ryw-" + UUID.randomUUID().toString().substring(0, 8);
        String runId = RunIds.next();
        CompletableFuture<HttpResponse<String>> byId;
        CompletableFuture<HttpResponse<String>> byToken;
        CompletableFuture<HttpResponse<String>> list;
        try (HeldReadModel held = new HeldReadModel()) {
            RecordMetadata written = queued(runId, queue);
            await().atMost(20, TimeUnit.SECONDS).until(held::writerWaits);
            byId = getAsync("api/v1/runs/" + runId, null);
            byToken = getAsync("api/v1/runs/" + runId, token(written));
            list = getAsync("api/v1/runs?queue=" + queue, token(written));
            // all three are waiting (without read-your-writes they would have answered 404 and an empty page)
            await().atMost(20, TimeUnit.SECONDS).until(() -> byId.isDone() && byToken.isDone() && list.isDone()
                    || waits() >= 3);
            assertEquals(3, waits(), "reads waiting: " + (byId.isDone() ? byId.get().body() : "by id waits"));
        }
        assertEquals(200, byId.get(20, TimeUnit.SECONDS).statusCode(), byId.get().body());
        assertEquals("QUEUED", JsonPath.from(byId.get().body()).getString("state"));
        assertEquals(200, byToken.get(20, TimeUnit.SECONDS).statusCode(), byToken.get().body());
        assertEquals(List.of(runId), JsonPath.from(list.get(20, TimeUnit.SECONDS).body()).getList("items.runId"));
    }

    @Test
    void aReadModelTooFarBehindAnswers503WithRetryAfterNotA404() throws Exception {
        String queue = "ryw-" + UUID.randomUUID().toString().substring(0, 8);
        String runId = RunIds.next();
        try (HeldReadModel held = new HeldReadModel()) {
            RecordMetadata written = queued(runId, queue);
            await().atMost(20, TimeUnit.SECONDS).until(held::writerWaits);
            for (String token : new String[] {token(written), null}) {
                HttpResponse<String> answer = getAsync("api/v1/runs/" + runId, token).get(20, TimeUnit.SECONDS);
                assertEquals(503, answer.statusCode(), answer.body());
                assertTrue(answer.headers().firstValue("Retry-After").isPresent(), "no Retry-After");
                assertTrue(answer.body().contains("behind"), answer.body());
            }
            HttpResponse<String> list = getAsync("api/v1/runs?queue=" + queue, token(written)).get(20, TimeUnit.SECONDS);
            assertEquals(503, list.statusCode(), list.body());
        }
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId)
                .then().statusCode(200).body("state", is("QUEUED")));
    }

    @Test
    void aRunThatDoesNotExistIsStillA404() throws Exception {
        // minted long ago: absent at once
        String old = new UUID((1_000_000_000_000L << 16) | 0x7000L, 0x8000000000000000L | 42).toString();
        given().when().get("/api/v1/runs/" + old).then().statusCode(404);
        // minted now, never written: absent once the read model has applied its partition to its end (a record is
        // written to that partition first, so there is something to wait for)
        String fresh = RunIds.next();
        int partitions = producer.partitionsFor(Topics.RUNS).size();
        int partition = org.apache.kafka.common.utils.Utils.toPositive(org.apache.kafka.common.utils.Utils.murmur2(
                fresh.getBytes(java.nio.charset.StandardCharsets.UTF_8))) % partitions;
        String neighbour = RunIds.next();
        RunLifecycle fact = new RunLifecycle(neighbour, "ryw-n", "train", 1, 1, null, null, null, null, null, null,
                0L, null, Instant.now(), null, null);
        producer.send(new ProducerRecord<>(Topics.RUNS, partition, neighbour,
                Events.encode(EventEnvelope.of(EventTypes.RUN_QUEUED, neighbour, fact)))).get(10, TimeUnit.SECONDS);
        given().when().get("/api/v1/runs/" + fresh).then().statusCode(404);
        given().header("Launch-Consistency", "runs:x:1").when().get("/api/v1/runs/" + fresh).then().statusCode(400)
                .body("errors[0].field", is("Launch-Consistency"));
    }
}
