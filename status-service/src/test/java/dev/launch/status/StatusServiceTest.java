package dev.launch.status;

import dev.launch.common.event.*;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.LaunchTestInfra;
import dev.launch.devstack.SharedInfra;
import dev.launch.devstack.TopicReader;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@QuarkusTest
@QuarkusTestResource(value = LaunchTestInfra.class, initArgs = @ResourceArg(name = "database", value = "status"))
class StatusServiceTest {
    private static KafkaProducer<String, String> producer;

    @TestHTTPResource("/api/v1/runs")
    URL runsUrl;
    @jakarta.inject.Inject
    io.vertx.mutiny.sqlclient.Pool pool;

    @BeforeAll
    static void connect() {
        producer = new KafkaProducer<>(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap(), "acks", "all",
                "key.serializer", StringSerializer.class.getName(), "value.serializer", StringSerializer.class.getName()));
    }

    @AfterAll
    static void disconnect() {
        producer.close();
    }

    private static String queue() {
        return "q-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static EventEnvelope send(String topic, String key, EventEnvelope event) throws Exception {
        producer.send(new ProducerRecord<>(topic, key, Events.encode(event))).get(10, TimeUnit.SECONDS);
        return event;
    }

    private static EventEnvelope fact(String type, RunLifecycle payload) throws Exception {
        return send(Topics.RUNS, payload.runId(), EventEnvelope.of(type, payload.runId(), payload));
    }

    private static String queued(String queue, long offset) throws Exception {
        String runId = RunIds.next();
        fact(EventTypes.RUN_QUEUED, new RunLifecycle(runId, queue, "train", 2, 1, null, null, null, null, null, null,
                offset, null, Instant.now(), null, null));
        return runId;
    }

    /** A run queued at offset 0 of {@code q}, once the read model shows it. */
    private static String queuedAndRead(String q) throws Exception {
        String runId = queued(q, 0);
        awaitState(runId, "QUEUED");
        return runId;
    }

    private static void awaitState(String runId, String state) {
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId)
                .then().statusCode(200).body("state", is(state)));
    }

    @Test
    void theReadModelFollowsTheLifecycleAndIgnoresDuplicatesAndRefusedTransitions() throws Exception {
        String q = queue();
        String runId = queued(q, 0);
        RunLifecycle held = RunLifecycle.of(runId, q).withAgent("agent-a", 1);
        EventEnvelope claimed = fact(EventTypes.RUN_CLAIMED, held);
        send(Topics.RUNS, runId, claimed);
        fact(EventTypes.RUN_STARTING, held.withTarget("local-process", null));
        fact(EventTypes.RUN_RUNNING, held.withTarget("local-process", "pid:42"));
        fact(EventTypes.RUN_FAILED, held.withExit(3).withFailure("run", "the process exited with code 3"));
        fact(EventTypes.RUN_RUNNING, held);
        awaitState(runId, "FAILED");
        given().when().get("/api/v1/runs/" + runId).then().statusCode(200)
                .body("job", is("train")).body("jobVersion", is(2)).body("agentId", is("agent-a"))
                .body("target.type", is("local-process")).body("target.handle", is("pid:42"))
                .body("exitCode", is(3)).body("failure.stage", is("run"))
                .body("failure.reason", containsString("code 3"))
                .body("history.state", contains("QUEUED", "CLAIMED", "STARTING", "RUNNING", "FAILED"));
        given().when().get("/api/v1/runs?queue=" + q + "&state=failed").then().statusCode(200)
                .body("items.runId", contains(runId));
        given().when().get("/api/v1/runs?queue=" + q + "&state=QUEUED,FAILED&job=train&agent=agent-a").then()
                .statusCode(200).body("items.runId", contains(runId));
        given().when().get("/api/v1/runs?queue=" + q + "&state=QUEUED,RUNNING").then().body("items", hasSize(0));
        given().when().get("/api/v1/runs?queue=" + q + "&agent=agent-b").then().body("items", hasSize(0));
        given().when().get("/api/v1/runs?queue=" + q + "&job=other").then().body("items", hasSize(0));
        given().when().get("/api/v1/runs?priority=urgent").then().statusCode(400)
                .body("errors[0].field", is("priority"));
        given().when().get("/api/v1/runs/counts?queue=" + q).then().statusCode(200)
                .body("FAILED", is(1)).body("QUEUED", is(0));
    }

    @jakarta.inject.Inject
    dev.launch.status.repository.RunReadModel readModel;

    @Test
    void aCommitWhoseAnswerIsLostStillReachesTheCounts() throws Exception {
        String q = queue();
        String runId = queuedAndRead(q);
        // the transaction of the claim lands, its answer does not: the retry finds the fact seen and applies nothing
        readModel.loseNextCommitAnswer();
        fact(EventTypes.RUN_CLAIMED, RunLifecycle.of(runId, q).withAgent("agent-a", 1));
        awaitState(runId, "CLAIMED");
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/counts?queue=" + q)
                .then().statusCode(200).body("CLAIMED", is(1)).body("QUEUED", is(0)));
        given().when().get("/api/v1/queue-stats/" + q).then().statusCode(200).body("queued", is(0))
                .body("running", is(1));
    }

    @jakarta.inject.Inject
    dev.launch.status.repository.QueueIndex queueIndex;

    @Test
    void aQueueIndexThatDriftedFromTheDatabaseIsFoundAndLoadedAgain() throws Exception {
        String q = queue();
        String runId = queuedAndRead(q);
        assertEquals(false, queueIndex.check().await().atMost(Duration.ofSeconds(30)), "no drift to begin with");
        // a change the index was told of that the database never saw (as a doubled update would be)
        queueIndex.changed(q, null, 0, null, dev.launch.common.run.RunState.FINISHED, null, null);
        given().when().get("/api/v1/runs/counts?queue=" + q).then().body("FINISHED", is(1));
        assertEquals(true, queueIndex.check().await().atMost(Duration.ofSeconds(30)), "the drift is found");
        given().when().get("/api/v1/runs/counts?queue=" + q).then().body("FINISHED", is(0)).body("QUEUED", is(1));
    }

    @Test
    void aQueuedRunShowsWhatItWasResolvedTo() throws Exception {
        String q = queue();
        String runId = RunIds.next();
        com.fasterxml.jackson.databind.node.ObjectNode target = Events.MAPPER.createObjectNode().put("type", "local-process");
        target.putObject("config").put("gpus", 2);
        RunRequest request = new RunRequest(runId, q, "train", 3, "sha256:x",
                new dev.launch.common.job.JobSource("code", null, null, null, null, "/a", "/b"), List.of("sh", "t.sh"),
                Events.MAPPER.createObjectNode().put("lr", 0.1), target, 1, 1, null, Instant.now(), null);
        fact(EventTypes.RUN_QUEUED, RunLifecycle.queued(request, 0));
        awaitState(runId, "QUEUED");
        given().when().get("/api/v1/runs/" + runId).then().statusCode(200)
                .body("resolved.command", contains("sh", "t.sh")).body("resolved.inputs.lr", is(0.1f))
                .body("resolved.config.gpus", is(2)).body("resolved.source.type", is("code"));
    }

    @Test
    void logsAreStoredOncePerBatchInOrder() throws Exception {
        String q = queue();
        String runId = queued(q, 0);
        EventEnvelope second = EventEnvelope.of(EventTypes.RUN_OUTPUT_LOGGED, runId, new RunLogBatch(runId, 1, "a", 1,
                List.of(new RunLogBatch.Line("stdout", Instant.now(), "three"))));
        send(Topics.RUN_LOGS, runId, second);
        send(Topics.RUN_LOGS, runId, EventEnvelope.of(EventTypes.RUN_OUTPUT_LOGGED, runId, new RunLogBatch(runId, 1,
                "a", 0, List.of(new RunLogBatch.Line("stdout", Instant.now(), "one"),
                new RunLogBatch.Line("stderr", Instant.now(), "two")))));
        send(Topics.RUN_LOGS, runId, second);
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId + "/logs")
                .then().statusCode(200).body(is("one\ntwo\nthree\n")));
    }

    private static io.restassured.response.Response logsAfter(String runId, String cursor) {
        return given().when().get("/api/v1/runs/" + runId + "/logs?after=" + cursor).then().statusCode(200)
                .extract().response();
    }

    private static EventEnvelope logged(String runId, long seq, String... lines) throws Exception {
        return send(Topics.RUN_LOGS, runId, EventEnvelope.of(EventTypes.RUN_OUTPUT_LOGGED, runId, new RunLogBatch(runId,
                1, "agent-f", seq, java.util.Arrays.stream(lines)
                .map(l -> new RunLogBatch.Line("stdout", Instant.now(), l)).toList())));
    }

    @Test
    void logsReadOnFromACursorAreCompleteOnlyOnceTheRunHasEndedAndAllItsOutputIsStored() throws Exception {
        String q = queue();
        String runId = queuedAndRead(q);
        RunLifecycle held = RunLifecycle.of(runId, q).withAgent("agent-f", 1);
        fact(EventTypes.RUN_CLAIMED, held);
        fact(EventTypes.RUN_STARTING, held.withTarget("local-process", null));
        fact(EventTypes.RUN_RUNNING, held.withTarget("local-process", "pid:7"));
        logged(runId, 0, "one", "two");
        await().atMost(20, TimeUnit.SECONDS).until(() -> logsAfter(runId, "0").asString().equals("one\ntwo\n"));
        io.restassured.response.Response first = logsAfter(runId, "0");
        assertEquals("1.0", first.header("Launch-Log-Cursor"));
        assertEquals("false", first.header("Launch-Log-Complete"), "a run that has not ended has more to come");
        io.restassured.response.Response none = logsAfter(runId, "1.0");
        assertEquals("", none.asString());
        assertEquals("1.0", none.header("Launch-Log-Cursor"), "nothing new: the same cursor");

        // the agent ships the last lines, then reports the end; the read model applies the end while storing the
        // last lines is held up (the log table locked against writes, not reads)
        io.vertx.mutiny.sqlclient.SqlConnection lock = pool.getConnection().await().atMost(Duration.ofSeconds(10));
        io.vertx.mutiny.sqlclient.Transaction tx = lock.begin().await().atMost(Duration.ofSeconds(10));
        try {
            lock.query("LOCK TABLE run_log IN EXCLUSIVE MODE").execute().await().atMost(Duration.ofSeconds(10));
            logged(runId, 1, "three (the last line)");
            fact(EventTypes.RUN_FINISHED, held.withExit(0));
            awaitState(runId, "FINISHED");
            io.restassured.response.Response ended = logsAfter(runId, "1.0");
            assertEquals("false", ended.header("Launch-Log-Complete"),
                    "the run has ended but its last output is not stored yet");
            assertEquals("", ended.asString());
        } finally {
            tx.commit().await().atMost(Duration.ofSeconds(10));
            lock.close().await().atMost(Duration.ofSeconds(10));
        }
        await().atMost(20, TimeUnit.SECONDS).until(() -> "true".equals(logsAfter(runId, "1.0")
                .header("Launch-Log-Complete")));
        io.restassured.response.Response last = logsAfter(runId, "1.0");
        assertEquals("three (the last line)\n", last.asString());
        assertEquals("1.1", last.header("Launch-Log-Cursor"));
        assertEquals("one\ntwo\nthree (the last line)\n", given().when().get("/api/v1/runs/" + runId + "/logs")
                .then().statusCode(200).extract().asString(), "the whole text as before");
        given().when().get("/api/v1/runs/" + runId + "/logs?after=yesterday").then().statusCode(400)
                .body("errors[0].field", is("after"));
    }

    private static RunLogBatch.Line podLine(String pod, long position) {
        return new RunLogBatch.Line("stdout", Instant.now(), pod + "@" + position, position, pod);
    }

    @Test
    void theOutputOfSeveralPodsIsDeduplicatedPerPodSoALateLineOfOneIsNotTakenForRead() throws Exception {
        String q = queue();
        String runId = queued(q, 0);
        send(Topics.RUN_LOGS, runId, EventEnvelope.of(EventTypes.RUN_OUTPUT_LOGGED, runId, new RunLogBatch(runId, 1,
                "a", 10, List.of(podLine("pod-a", 10), podLine("pod-a", 20)))));
        // pod-b's line is older than pod-a's last one, and arrives after it
        send(Topics.RUN_LOGS, runId, EventEnvelope.of(EventTypes.RUN_OUTPUT_LOGGED, runId, new RunLogBatch(runId, 1,
                "a", 15, List.of(podLine("pod-b", 15)))));
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId + "/logs")
                .then().body(is("pod-a@10\npod-a@20\npod-b@15\n")));
        // an adopter reads both pods again from the lowest stored position on
        send(Topics.RUN_LOGS, runId, EventEnvelope.of(EventTypes.RUN_OUTPUT_LOGGED, runId, new RunLogBatch(runId, 1,
                "b", 15, List.of(podLine("pod-b", 15), podLine("pod-a", 20), podLine("pod-b", 25)))));
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId + "/logs")
                .then().body(is("pod-a@10\npod-a@20\npod-b@15\npod-b@25\n")));
    }

    @Test
    void stoppingAQueuedRunStopsItAtOnceAndTellsTheAgents() throws Exception {
        String q = queue();
        String first = queued(q, 0);
        String runId = queued(q, 1);
        awaitState(runId, "QUEUED");
        given().when().get("/api/v1/runs/" + runId).then().body("position", is(1));
        given().when().post("/api/v1/runs/" + runId + "/stop").then().statusCode(202).body("stopRequested", is(true));
        awaitState(runId, "STOPPED");
        given().when().get("/api/v1/runs/" + first).then().body("position", is(0));
        given().when().post("/api/v1/runs/" + runId + "/stop").then().statusCode(409)
                .contentType("application/problem+json").body("detail", containsString("STOPPED"));
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Map.of(
                "bootstrap.servers", SharedInfra.kafkaBootstrap(),
                "key.deserializer", StringDeserializer.class.getName(),
                "value.deserializer", StringDeserializer.class.getName()))) {
            List<TopicPartition> partitions = new ArrayList<>();
            consumer.partitionsFor(Topics.RUN_COMMANDS).forEach(p -> partitions.add(new TopicPartition(p.topic(),
                    p.partition())));
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            List<String> stopped = new ArrayList<>();
            await().atMost(20, TimeUnit.SECONDS).until(() -> {
                consumer.poll(Duration.ofMillis(200)).forEach(r -> stopped.add(r.key()));
                return stopped.contains(runId);
            });
        }
    }

    @Test
    void aStopRightAfterEnqueueWaitsForTheRunToAppear() throws Exception {
        String q = queue();
        String runId = RunIds.next();
        // the stop arrives the moment the run is in Kafka, before the read model has it (as a client holding a 202
        // does): it waits for the run (ADR 0004), it is not a 404. A stop for a run that was not yet in Kafka when
        // it arrived is a 404: no client can hold such a run's id from a 202.
        // in a transaction, as the queue service always writes it: the read model knows it has read a run's
        // RunQueued once it is past the transaction's marker (ADR 0004)
        try (KafkaProducer<String, String> enqueuer = new KafkaProducer<>(Map.of(
                "bootstrap.servers", SharedInfra.kafkaBootstrap(), "transactional.id", "status-test-" + runId,
                "key.serializer", StringSerializer.class.getName(),
                "value.serializer", StringSerializer.class.getName()))) {
            enqueuer.initTransactions();
            enqueuer.beginTransaction();
            enqueuer.send(new ProducerRecord<>(Topics.RUNS, runId, Events.encode(EventEnvelope.of(
                    EventTypes.RUN_QUEUED, runId, new RunLifecycle(runId, q, "train", 1, 1, null, null, null, null,
                            null, null, 0L, null, Instant.now(), null, null)))));
            enqueuer.commitTransaction();
        }
        CompletableFuture<Integer> stop = CompletableFuture.supplyAsync(() -> given().when()
                .post("/api/v1/runs/" + runId + "/stop").then().extract().statusCode());
        assertEquals(202, stop.get(20, TimeUnit.SECONDS));
        awaitState(runId, "STOPPED");
    }

    @Test
    void stopAllStopsEveryUnfinishedRunOfAQueue() throws Exception {
        String q = queue();
        String a = queued(q, 0);
        String b = queued(q, 1);
        String done = queued(q, 2);
        fact(EventTypes.RUN_CLAIMED, RunLifecycle.of(a, q).withAgent("agent-d", 1));
        fact(EventTypes.RUN_CLAIMED, RunLifecycle.of(done, q).withAgent("agent-d", 1));
        fact(EventTypes.RUN_FINISHED, RunLifecycle.of(done, q).withAgent("agent-d", 1).withExit(0));
        awaitState(a, "CLAIMED");
        awaitState(done, "FINISHED");
        awaitState(b, "QUEUED");
        given().when().post("/api/v1/queue-stats/" + q + "/stop-all").then().statusCode(200)
                .body("stopRequested", is(2));
        awaitState(b, "STOPPED");
        awaitState(a, "STOPPING");
        given().when().get("/api/v1/runs/" + done).then().body("state", is("FINISHED"));
    }

    @Test
    void stoppingAHeldRunAsksItsAgentAndWaits() throws Exception {
        String q = queue();
        String runId = queued(q, 0);
        fact(EventTypes.RUN_CLAIMED, RunLifecycle.of(runId, q).withAgent("agent-b", 1));
        awaitState(runId, "CLAIMED");
        given().when().post("/api/v1/runs/" + runId + "/stop").then().statusCode(202);
        awaitState(runId, "STOPPING");
        fact(EventTypes.RUN_STOPPED, RunLifecycle.of(runId, q).withAgent("agent-b", 1).withReason("stopped"));
        awaitState(runId, "STOPPED");
    }

    /** The lines of a Server-Sent Events stream as they come, and when it ends; the request may wait for its headers. */
    private record Sse(java.util.concurrent.LinkedBlockingQueue<String> lines, CompletableFuture<Integer> ended) {
        static Sse open(String url, String... headers) {
            Sse sse = new Sse(new java.util.concurrent.LinkedBlockingQueue<>(), new CompletableFuture<>());
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url));
            for (int i = 0; i < headers.length; i += 2) {
                request.header(headers[i], headers[i + 1]);
            }
            HttpClient.newHttpClient().sendAsync(request.build(), HttpResponse.BodyHandlers.ofLines())
                    .thenAccept(response -> CompletableFuture.runAsync(() -> {
                        response.body().forEach(sse.lines()::add);
                        sse.ended().complete(response.statusCode());
                    }));
            return sse;
        }

        /** The lines read so far, joined by newlines. */
        String text() {
            return String.join("\n", lines);
        }
    }

    @Test
    void theLogStreamSendsLinesAsTheyAreStoredThenCompleteAfterTheLastAndResumesFromTheLastEventId()
            throws Exception {
        String q = queue();
        String runId = queuedAndRead(q);
        RunLifecycle held = RunLifecycle.of(runId, q).withAgent("agent-s", 1);
        fact(EventTypes.RUN_CLAIMED, held);
        fact(EventTypes.RUN_RUNNING, held.withTarget("local-process", "pid:9"));
        logged(runId, 0, "one", "two");
        Sse live = Sse.open(runsUrl + "/" + runId + "/logs/stream");
        await().atMost(20, TimeUnit.SECONDS).until(() -> live.text().contains("\"text\":\"one\\ntwo\\n\""));
        logged(runId, 1, "three");
        await().atMost(20, TimeUnit.SECONDS).until(() -> live.text().contains("\"text\":\"three\\n\""));
        assertTrue(!live.ended().isDone(), "a run that has not ended has more to come: " + live.text());
        logged(runId, 2, "four (the last line)");
        fact(EventTypes.RUN_FINISHED, held.withExit(0));
        assertEquals(200, live.ended().get(30, TimeUnit.SECONDS));
        List<String> events = live.lines().stream().filter(l -> l.startsWith("event:") || l.startsWith("id:"))
                .map(l -> l.replace(" ", "")).toList();
        assertEquals("event:complete", events.get(events.size() - 1), live.text());
        assertTrue(live.text().indexOf("four (the last line)") < live.text().indexOf("event:complete"),
                "the last line comes before complete: " + live.text());
        assertTrue(events.containsAll(List.of("id:1.0", "id:1.1", "id:1.2")), live.text());

        // a reconnecting EventSource sends the id of the last event it had: the stream goes on from there
        Sse resumed = Sse.open(runsUrl + "/" + runId + "/logs/stream", "Last-Event-ID", "1.1");
        assertEquals(200, resumed.ended().get(30, TimeUnit.SECONDS));
        assertTrue(resumed.text().contains("four (the last line)") && !resumed.text().contains("three")
                && resumed.text().contains("event:complete"), resumed.text());

        given().when().get("/api/v1/runs/" + runId + "/logs/stream?after=yesterday").then().statusCode(400)
                .body("errors[0].field", is("after"));
        given().when().get("/api/v1/runs/" + RunIds.next() + "/logs/stream").then().statusCode(404)
                .contentType("application/problem+json");
        given().when().get("/api/v1/runs/" + RunIds.next() + "/events").then().statusCode(404)
                .contentType("application/problem+json");
    }

    @Test
    void theQueueOverviewListsTheQueuesRunsNameWhenTheQueueServiceCannotBeAsked() throws Exception {
        String q = queue();
        String runId = queuedAndRead(q);
        io.restassured.path.json.JsonPath overview = given().when().get("/api/v1/queue-stats").then().statusCode(200)
                .body("queueService", startsWith("unreachable: ")).extract().jsonPath();
        Map<String, Object> ours = overview.getMap("items.find { it.queue == '" + q + "' }");
        assertEquals(1, ours.get("queued"), String.valueOf(ours));
        assertEquals(0, ours.get("running"));
        assertTrue(ours.containsKey("oldestQueuedAt") && !ours.containsKey("defined"), String.valueOf(ours));
        fact(EventTypes.RUN_CLAIMED, RunLifecycle.of(runId, q).withAgent("agent-o", 1));
        awaitState(runId, "CLAIMED");
        given().when().get("/api/v1/queue-stats").then().statusCode(200)
                .body("items.find { it.queue == '" + q + "' }.running", is(1))
                .body("items.find { it.queue == '" + q + "' }.queued", is(0));
    }

    @Test
    void theChangeStreamCarriesTheChangesOfEveryRunOrOfOneQueue() throws Exception {
        String q = queue();
        String other = queue();
        Sse ofQueue = Sse.open(runsUrl + "/changes?queue=" + q);
        Sse ofAll = Sse.open(runsUrl + "/changes");
        // the streams are live once a change made after they were opened comes through both (each probe run at an
        // offset of its own, as the queue service would give)
        java.util.concurrent.atomic.AtomicLong offsets = new java.util.concurrent.atomic.AtomicLong();
        List<String> probes = new java.util.concurrent.CopyOnWriteArrayList<>();
        await().atMost(20, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(500)).until(() -> {
            probes.add(queued(q, offsets.getAndIncrement()));
            return probes.stream().anyMatch(p -> ofQueue.text().contains(p) && ofAll.text().contains(p));
        });
        String elsewhere = queued(other, 0);
        String here = queued(q, offsets.getAndIncrement());
        fact(EventTypes.RUN_CLAIMED, RunLifecycle.of(here, q).withAgent("agent-l", 1));
        await().atMost(20, TimeUnit.SECONDS).until(() -> ofAll.text().contains(elsewhere)
                && ofAll.text().contains("\"runId\":\"" + here + "\",\"queue\":\"" + q + "\",\"state\":\"CLAIMED\"")
                && ofQueue.text().contains("\"runId\":\"" + here + "\",\"queue\":\"" + q
                + "\",\"state\":\"CLAIMED\""));
        assertTrue(!ofQueue.text().contains(elsewhere), "another queue's run is not in this queue's stream");
        given().when().get("/api/v1/runs/changes?queue=Not%20a%20name").then().statusCode(400);
    }

    @Test
    void serverSentEventsStreamStateChangesUntilTheRunEnds() throws Exception {
        String q = queue();
        String runId = queuedAndRead(q);
        HttpClient client = HttpClient.newHttpClient();
        HttpResponse<Stream<String>> stream = client.sendAsync(
                HttpRequest.newBuilder(URI.create(runsUrl + "/" + runId + "/events")).build(),
                HttpResponse.BodyHandlers.ofLines()).get(10, TimeUnit.SECONDS);
        java.util.concurrent.LinkedBlockingQueue<String> data = new java.util.concurrent.LinkedBlockingQueue<>();
        CompletableFuture<Void> reader = CompletableFuture.runAsync(() -> stream.body()
                .filter(l -> l.startsWith("data:")).forEach(data::add));
        // the current state comes first; only then are the changes published, so none can be missed
        String first = data.poll(10, TimeUnit.SECONDS);
        assertTrue(first != null && first.contains("\"QUEUED\""), String.valueOf(first));
        RunLifecycle held = RunLifecycle.of(runId, q).withAgent("agent-c", 1);
        fact(EventTypes.RUN_CLAIMED, held);
        fact(EventTypes.RUN_RUNNING, held.withTarget("local-process", "pid:1"));
        fact(EventTypes.RUN_FINISHED, held.withExit(0));
        reader.get(30, TimeUnit.SECONDS);
        List<String> states = data.stream().map(l -> l.replaceAll(".*\"state\":\"([A-Z]+)\".*", "$1")).toList();
        assertEquals(List.of("CLAIMED", "RUNNING", "FINISHED"), states);
        assertEquals(200, stream.statusCode());
    }

    @Test
    void agentsAreShownPollingRunningLostOrStopped() throws Exception {
        String id = "agent-" + UUID.randomUUID();
        String lost = "agent-" + UUID.randomUUID();
        AgentStatus idle = new AgentStatus(id, List.of("local"), 2, List.of(), "h", 1, 1000, Instant.now());
        send(Topics.AGENTS, id, EventEnvelope.of(EventTypes.AGENT_HEARTBEAT, id, idle));
        send(Topics.AGENTS, lost, new EventEnvelope(UUID.randomUUID(), EventTypes.AGENT_HEARTBEAT, 1,
                Instant.now().minusSeconds(60), lost,
                Events.MAPPER.valueToTree(new AgentStatus(lost, List.of("local"), 1, List.of(), "h", 2, 1000,
                        Instant.now().minusSeconds(120)))));
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/agents").then()
                .body("items.find { it.agentId == '" + id + "' }.state", is("POLLING"))
                .body("items.find { it.agentId == '" + lost + "' }.state", is("LOST")));
        given().when().get("/api/v1/agents?state=lost,stopped&limit=500").then().statusCode(200)
                .body("items.agentId", hasItem(lost)).body("items.agentId", not(hasItem(id)));
        String first = given().when().get("/api/v1/agents?limit=1").then().body("items", hasSize(1))
                .extract().path("next");
        given().when().get("/api/v1/agents?limit=500&after=" + first).then()
                .body("items.agentId", not(hasItem(first)));
        given().when().get("/api/v1/agents?state=sleepy").then().statusCode(400).body("errors[0].field", is("state"));
        send(Topics.AGENTS, id, EventEnvelope.of(EventTypes.AGENT_STOPPED, id, idle));
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/agents").then()
                .body("items.find { it.agentId == '" + id + "' }.state", is("STOPPED"))
                .body("items.find { it.agentId == '" + id + "' }.maxJobs", is(2)));
    }

    /** A run of {@code q} RUNNING on {@code agentId}. */
    private String runningOn(String q, String agentId) throws Exception {
        String runId = queued(q, 0);
        RunLifecycle held = RunLifecycle.of(runId, q).withAgent(agentId, 1);
        fact(EventTypes.RUN_CLAIMED, held);
        fact(EventTypes.RUN_RUNNING, held.withTarget("local-process", "pid:4242"));
        awaitState(runId, "RUNNING");
        return runId;
    }

    /** What {@code agentId} (heartbeat every second) last said, {@code secondsAgo}, holding {@code runId}. */
    private void agentSaid(String type, String agentId, String q, String runId, long secondsAgo) throws Exception {
        send(Topics.AGENTS, agentId, new EventEnvelope(UUID.randomUUID(), type, 1,
                Instant.now().minusSeconds(secondsAgo), agentId, Events.MAPPER.valueToTree(new AgentStatus(agentId,
                List.of(q), 1, List.of(runId), "h", 1, 1000, Instant.now().minusSeconds(secondsAgo + 60)))));
    }

    @Test
    void theRunsOfALostAgentAreStoppedAndFailedInStageAgent() throws Exception {
        String q = queue();
        String agentId = "agent-" + UUID.randomUUID();
        String runId = runningOn(q, agentId);
        try (dev.launch.devstack.LogCapture log = new dev.launch.devstack.LogCapture()) {
            // its last heartbeat, a minute old with a 1 s interval: LOST
            agentSaid(EventTypes.AGENT_HEARTBEAT, agentId, q, runId, 60);
            awaitState(runId, "FAILED");
            // the line saying why names the run, its queue and its agent in its MDC (the JSON log shows them)
            var lines = log.mentioning("run " + runId);
            assertTrue(!lines.isEmpty(), "no line about run " + runId);
            lines.forEach(l -> assertEquals(new dev.launch.devstack.LogCapture.Line(l.message(), runId, q, agentId), l));
        }
        given().when().get("/api/v1/runs/" + runId).then().body("failure.stage", is("agent"))
                .body("failure.reason", containsString("agent " + agentId + " was lost"))
                .body("agentId", is(agentId));
        List<String> types = TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.RUN_COMMANDS, runId, 1).stream()
                .map(r -> Events.decode(r.value()).type()).toList();
        assertEquals(List.of(EventTypes.STOP_RUN), types, "an agent that comes back stops the run");
    }

    @Test
    void aRunLeftRunningByAnAgentThatStoppedLongAgoIsFailed() throws Exception {
        String q = queue();
        String agentId = "agent-" + UUID.randomUUID();
        String runId = runningOn(q, agentId);
        agentSaid(EventTypes.AGENT_STOPPED, agentId, q, runId, 120);
        awaitState(runId, "FAILED");
        given().when().get("/api/v1/runs/" + runId).then().body("failure.stage", is("agent"))
                .body("failure.reason", containsString("without reporting how the run ended"));
    }

    /**
     * Agent {@code claimer} claims the run and dies before recording its take; agent {@code taker} reads the item
     * again, claims it (a second claim the read model ignores: the run is CLAIMED already), takes it and dies
     * before starting it. The ledger says the taker owns the run, the read model names the claimer.
     */
    private String claimedByOneTakenByAnother(String q, String claimer, String taker) throws Exception {
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(
                Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap()))) {
            dev.launch.messaging.TopicAdmin.ensure(admin, dev.launch.messaging.TopicAdmin.queueTopics(q, false));
        }
        String runId = RunIds.next();
        RunRequest request = new RunRequest(runId, q, "train", 2, "sha256:x",
                new dev.launch.common.job.JobSource("image", "busybox", null, null, null, null, null),
                List.of("true"), Events.MAPPER.createObjectNode(),
                Events.MAPPER.createObjectNode().put("type", "local-process"), 1, 1, null, Instant.now(), null);
        fact(EventTypes.RUN_QUEUED, RunLifecycle.queued(request, 0));
        fact(EventTypes.RUN_CLAIMED, RunLifecycle.of(runId, q).withAgent(claimer, 1).withItem(runId));
        fact(EventTypes.RUN_CLAIMED, RunLifecycle.of(runId, q).withAgent(taker, 1).withItem(runId));
        send(Topics.RUN_COMMANDS, runId, EventEnvelope.of(EventTypes.RUN_TAKEN, runId, new RunTaken(runId, q, runId,
                taker)));
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId).then()
                .body("state", is("CLAIMED")).body("agentId", is(claimer)));
        return runId;
    }

    /** Waits until the run is QUEUED again as a new item, handed back from {@code from}. */
    private void awaitHandedBackFrom(String runId, String from) {
        await().atMost(30, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId).then()
                .body("state", is("QUEUED")).body("attempt", is(1))
                .body("history.reason", hasItem(containsString("agent " + from + " was lost before it started"))));
        MoveRun release = TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.RUN_COMMANDS, runId, 2).stream()
                .map(r -> Events.decode(r.value())).filter(e -> e.type().equals(EventTypes.MOVE_RUN))
                .map(e -> e.payloadAs(MoveRun.class)).findFirst().orElseThrow();
        assertEquals(from, release.releasedFrom());
        assertEquals(runId, release.fromItem());
    }

    @Test
    void aRunClaimedByOneLostAgentAndTakenByAnotherLostAgentGoesBackToItsQueue() throws Exception {
        String q = queue();
        String claimer = "claimer-" + UUID.randomUUID();
        String taker = "taker-" + UUID.randomUUID();
        String runId = claimedByOneTakenByAnother(q, claimer, taker);
        agentSaid(EventTypes.AGENT_HEARTBEAT, claimer, q, runId, 60);
        agentSaid(EventTypes.AGENT_HEARTBEAT, taker, q, runId, 60);
        awaitHandedBackFrom(runId, taker);
    }

    @Test
    void aRunClaimedByALiveAgentButTakenByALostOneGoesBackToItsQueue() throws Exception {
        String q = queue();
        String claimer = "claimer-" + UUID.randomUUID();
        String taker = "taker-" + UUID.randomUUID();
        String runId = claimedByOneTakenByAnother(q, claimer, taker);
        // the claimer is alive (its next heartbeat is not due for a minute); only the taker is lost
        send(Topics.AGENTS, claimer, EventEnvelope.of(EventTypes.AGENT_HEARTBEAT, claimer, new AgentStatus(claimer,
                List.of(q), 1, List.of(), "h", 1, 60_000, Instant.now())));
        agentSaid(EventTypes.AGENT_HEARTBEAT, taker, q, runId, 60);
        awaitHandedBackFrom(runId, taker);
    }

    @Test
    void aQueuedRunSaysWhyItWaits() throws Exception {
        String q = queue();
        String first = queued(q, 0);
        String second = queued(q, 1);
        awaitState(second, "QUEUED");
        given().when().get("/api/v1/runs/" + second).then().body("position", is(1))
                .body("pendingReason", is("no agent serves queue '" + q + "'; start one with: ./launch agent --queue "
                        + q + " (waiting behind 1 run)"));
        String agentId = "agent-" + UUID.randomUUID();
        send(Topics.AGENTS, agentId, EventEnvelope.of(EventTypes.AGENT_HEARTBEAT, agentId, new AgentStatus(agentId,
                List.of(q), 1, List.of(RunIds.next()), "h", 1, 5000, Instant.now())));
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + first).then()
                .body("pendingReason", is("the 1 agent serving queue '" + q + "' is at max-jobs (1 of 1 slots busy)")));
        given().when().get("/api/v1/queue-stats/" + q).then().statusCode(200)
                .body("queued", is(2)).body("running", is(0)).body("agents[0].agentId", is(agentId))
                .body("oldestQueuedAt", notNullValue());
        given().when().get("/api/v1/agents?queue=" + q).then().body("items.agentId", contains(agentId));
    }

    @Test
    void anInvalidRecordGoesToTheDeadLetterTopicWithItsReasonAndConsumptionGoesOn() throws Exception {
        String q = queue();
        String runId = RunIds.next();
        // same key, so the same partition: the run after it is only seen if the consumer got past it
        producer.send(new ProducerRecord<>(Topics.RUNS, runId, "{not an event")).get(10, TimeUnit.SECONDS);
        producer.send(new ProducerRecord<>(Topics.RUNS, runId, Events.encode(EventEnvelope.of(EventTypes.RUN_QUEUED,
                runId, new RunLifecycle(runId, q, "train", 1, 1, null, null, null, null, null, null, 0L, null,
                        Instant.now(), null, null))))).get(10, TimeUnit.SECONDS);
        awaitState(runId, "QUEUED");
        var record = TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.DEAD_LETTER, runId, 1).get(0);
        assertEquals("{not an event", record.value());
        String reason = new String(record.headers().lastHeader("dead-letter-reason").value());
        assertTrue(reason.contains("not a Launch event envelope"), reason);
        assertEquals(Topics.RUNS, new String(record.headers().lastHeader("dead-letter-topic").value()));
        given().when().get("/q/metrics").then().statusCode(200)
                .body(containsString("launch_dead_letters_total{topic=\"launch.runs\"}"));
    }

    @Test
    void aFactTheDatabaseRefusesGoesToTheDeadLettersAloneAndTheRestOfItsPartitionIsApplied() throws Exception {
        String q = queue();
        String poisoned = queuedAndRead(q);
        // valid by its schema, but its agent id does not fit the read model's column: refused every time
        String longAgent = "agent-" + "x".repeat(300);
        int partition = partitionOf(Topics.RUNS, poisoned);
        String next = RunIds.next();
        producer.send(new ProducerRecord<>(Topics.RUNS, partition, poisoned, Events.encode(EventEnvelope.of(
                EventTypes.RUN_CLAIMED, poisoned, RunLifecycle.of(poisoned, q).withAgent(longAgent, 1)))));
        // after it on the same partition (and likely in the same batch): applied only if the poison did not stop it
        producer.send(new ProducerRecord<>(Topics.RUNS, partition, next, Events.encode(EventEnvelope.of(
                EventTypes.RUN_QUEUED, next, new RunLifecycle(next, q, "train", 1, 1, null, null, null, null, null,
                        null, 1L, null, Instant.now(), null, null))))).get(10, TimeUnit.SECONDS);
        awaitState(next, "QUEUED");
        var record = TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.DEAD_LETTER, poisoned, 1).get(0);
        String reason = new String(record.headers().lastHeader("dead-letter-reason").value());
        assertTrue(reason.contains("cannot be stored"), reason);
        given().when().get("/api/v1/runs/" + poisoned).then().statusCode(200).body("state", is("QUEUED"));
    }

    /** The partition a record keyed {@code key} lands on: the producer's default partitioner. */
    private static int partitionOf(String topic, String key) {
        return org.apache.kafka.common.utils.Utils.toPositive(org.apache.kafka.common.utils.Utils.murmur2(
                key.getBytes(java.nio.charset.StandardCharsets.UTF_8))) % producer.partitionsFor(topic).size();
    }

    @Test
    void aFactThatBreaksItsSchemaIsRefusedWholeAndWhatFollowsItIsApplied() throws Exception {
        String q = queue();
        String broken = queuedAndRead(q);
        int partition = partitionOf(Topics.RUNS, broken);
        // decodes, but its agent id is empty: stored, it made the run CLAIMED by agent ""
        producer.send(new ProducerRecord<>(Topics.RUNS, partition, broken, Events.encode(EventEnvelope.of(
                EventTypes.RUN_CLAIMED, broken, RunLifecycle.of(broken, q).withAgent("", 1)))));
        String next = RunIds.next();
        producer.send(new ProducerRecord<>(Topics.RUNS, partition, next, Events.encode(EventEnvelope.of(
                EventTypes.RUN_QUEUED, next, new RunLifecycle(next, q, "train", 1, 1, null, null, null, null, null,
                        null, 2L, null, Instant.now(), null, null))))).get(10, TimeUnit.SECONDS);
        awaitState(next, "QUEUED");
        var record = TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.DEAD_LETTER, broken, 1).get(0);
        String reason = new String(record.headers().lastHeader("dead-letter-reason").value());
        assertTrue(reason.contains("breaks the RunClaimed schema") && reason.contains("agentId"), reason);
        given().when().get("/api/v1/runs/" + broken).then().statusCode(200).body("state", is("QUEUED"))
                .body("agentId", nullValue());
        // a log batch without its lines is refused the same way, not half-stored
        String logless = queuedAndRead(queue());
        var envelope = (com.fasterxml.jackson.databind.node.ObjectNode) Events.MAPPER.readTree(Events.encode(
                EventEnvelope.of(EventTypes.RUN_OUTPUT_LOGGED, logless, new RunLogBatch(logless, 1, "a", 0,
                        List.of()))));
        ((com.fasterxml.jackson.databind.node.ObjectNode) envelope.get("payload")).remove("lines");
        producer.send(new ProducerRecord<>(Topics.RUN_LOGS, logless, envelope.toString())).get(10, TimeUnit.SECONDS);
        var logRecord = TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.DEAD_LETTER, logless, 1).get(0);
        String logReason = new String(logRecord.headers().lastHeader("dead-letter-reason").value());
        assertTrue(logReason.contains("breaks the RunOutputLogged schema"), logReason);
    }

    @Test
    void outputWithNulCharactersIsStoredWithEachShownAsAReplacementCharacter() throws Exception {
        String runId = queuedAndRead(queue());
        logged(runId, 0, "before", "a\0b\0", "after");
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId + "/logs")
                .then().statusCode(200).body(is("before\na\uFFFDb\uFFFD\nafter\n")));
    }

    @Test
    void aLogBatchTheDatabaseRefusesGoesToTheDeadLettersAloneAndTheNextBatchOfItsPartitionIsStored()
            throws Exception {
        String q = queue();
        String poisoned = queuedAndRead(q);
        // valid by its schema, but PostgreSQL's text cannot hold a NUL, and a source is stored as it is
        int partition = partitionOf(Topics.RUN_LOGS, poisoned);
        producer.send(new ProducerRecord<>(Topics.RUN_LOGS, partition, poisoned, Events.encode(EventEnvelope.of(
                EventTypes.RUN_OUTPUT_LOGGED, poisoned, new RunLogBatch(poisoned, 1, "agent-p", 0, List.of(
                        new RunLogBatch.Line("stdout", Instant.now(), "x", 0L, "pod\0a")))))));
        String next = queuedAndRead(q);
        producer.send(new ProducerRecord<>(Topics.RUN_LOGS, partition, next, Events.encode(EventEnvelope.of(
                EventTypes.RUN_OUTPUT_LOGGED, next, new RunLogBatch(next, 1, "agent-p", 0, List.of(
                        new RunLogBatch.Line("stdout", Instant.now(), "stored all the same"))))))).get(10,
                TimeUnit.SECONDS);
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + next + "/logs")
                .then().statusCode(200).body(is("stored all the same\n")));
        var record = TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.DEAD_LETTER, poisoned, 1).get(0);
        String reason = new String(record.headers().lastHeader("dead-letter-reason").value());
        assertTrue(reason.contains("cannot be stored"), reason);
        assertEquals(Topics.RUN_LOGS, new String(record.headers().lastHeader("dead-letter-topic").value()));
    }

    @Test
    void anAgentStatusTheDatabaseRefusesGoesToTheDeadLettersAloneAndTheNextOfItsPartitionIsStored()
            throws Exception {
        // valid by its schema, but its id does not fit the agents table's column
        String poisoned = "agent-" + "x".repeat(300);
        String next = "agent-" + UUID.randomUUID();
        int partition = partitionOf(Topics.AGENTS, poisoned);
        producer.send(new ProducerRecord<>(Topics.AGENTS, partition, poisoned, Events.encode(EventEnvelope.of(
                EventTypes.AGENT_HEARTBEAT, poisoned, new AgentStatus(poisoned, List.of("local"), 1, List.of(), "h",
                        1, 1000, Instant.now())))));
        producer.send(new ProducerRecord<>(Topics.AGENTS, partition, next, Events.encode(EventEnvelope.of(
                EventTypes.AGENT_HEARTBEAT, next, new AgentStatus(next, List.of("local"), 1, List.of(), "h", 1, 1000,
                        Instant.now()))))).get(10, TimeUnit.SECONDS);
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/agents?limit=500")
                .then().body("items.agentId", hasItem(next)));
        var record = TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.DEAD_LETTER, poisoned, 1).get(0);
        String reason = new String(record.headers().lastHeader("dead-letter-reason").value());
        assertTrue(reason.contains("cannot be stored"), reason);
        assertEquals(Topics.AGENTS, new String(record.headers().lastHeader("dead-letter-topic").value()));
    }

    @Test
    void anAgentReportAboutARunNeverSeenQueuedIsCountedNotApplied() throws Exception {
        String q = queue();
        String runId = RunIds.next();
        double before = unknownRunFacts();
        producer.send(new ProducerRecord<>(Topics.RUNS, runId, Events.encode(EventEnvelope.of(EventTypes.RUN_CLAIMED,
                runId, RunLifecycle.of(runId, q).withAgent("agent-x", 1))))).get(10, TimeUnit.SECONDS);
        // the same key, so the same partition: once the run shows QUEUED, the claim before it was read
        producer.send(new ProducerRecord<>(Topics.RUNS, runId, Events.encode(EventEnvelope.of(EventTypes.RUN_QUEUED,
                runId, new RunLifecycle(runId, q, "train", 1, 1, null, null, null, null, null, null, 0L, null,
                        Instant.now(), null, null))))).get(10, TimeUnit.SECONDS);
        awaitState(runId, "QUEUED");
        assertTrue(unknownRunFacts() >= before + 1, "the claim of an unknown run is counted");
        given().when().get("/api/v1/runs/" + runId).then().body("history.state", org.hamcrest.Matchers.contains("QUEUED"));
    }

    private static double unknownRunFacts() {
        String metrics = given().when().get("/q/metrics").then().statusCode(200).extract().asString();
        var m = java.util.regex.Pattern.compile("(?m)^launch_status_unknown_run_facts_total(?:\\{[^}]*\\})? (\\S+)$")
                .matcher(metrics);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    @jakarta.inject.Inject
    io.smallrye.reactive.messaging.kafka.KafkaClientService kafkaClients;

    @Test
    void stopRequestsAreProducedWithAcksAllAndIdempotence() {
        for (String channel : List.of("launch-run-commands", "launch-runs-requests")) {
            Map<String, ?> config = kafkaClients.getProducer(channel).configuration();
            assertEquals("all", String.valueOf(config.get("acks")), channel);
            assertEquals("true", String.valueOf(config.get("enable.idempotence")), channel);
        }
    }

    @Test
    void badRequestsAreProblems() {
        given().when().get("/api/v1/runs/not-a-run").then().statusCode(400).contentType("application/problem+json")
                .body("errors[0].field", is("runId"));
        given().when().get("/api/v1/runs/" + RunIds.next()).then().statusCode(404)
                .contentType("application/problem+json");
        given().when().post("/api/v1/runs/" + RunIds.next() + "/stop").then().statusCode(404);
        given().when().get("/api/v1/runs?state=DANCING").then().statusCode(400).body("errors[0].field", is("state"));
        given().when().get("/api/v1/runs?limit=0").then().statusCode(400).body("errors[0].field", is("limit"));
    }

    /** A run of {@code q} on the local-container target, RUNNING on {@code agentId}, its launch recorded adoptable. */
    private String containerRunningOn(String q, String agentId) throws Exception {
        return containerRunningOn(q, agentId, true);
    }

    /**
     * As above; without {@code commandsOnTopic} its take and launch records are not on the command topic, as once
     * they are older than its retention: the run's launch is known only from the status service's durable copy.
     */
    private String containerRunningOn(String q, String agentId, boolean commandsOnTopic) throws Exception {
        return containerRunningOn(q, agentId, commandsOnTopic, 1);
    }

    private String containerRunningOn(String q, String agentId, boolean commandsOnTopic, int maxAttempts)
            throws Exception {
        String runId = RunIds.next();
        RunRequest request = new RunRequest(runId, q, "train", 2, "sha256:x",
                new dev.launch.common.job.JobSource("image", "busybox", null, null, null, null, null),
                List.of("sh", "-c", "sleep 60"), Events.MAPPER.createObjectNode(),
                Events.MAPPER.createObjectNode().put("type", "local-container"), 1, maxAttempts, null, Instant.now(),
                null);
        fact(EventTypes.RUN_QUEUED, RunLifecycle.queued(request, 0));
        String handle = "launch-" + runId + "-1";
        RunLifecycle held = RunLifecycle.of(runId, q).withAgent(agentId, 1).withTarget("local-container", handle);
        fact(EventTypes.RUN_CLAIMED, RunLifecycle.of(runId, q).withAgent(agentId, 1));
        if (commandsOnTopic) {
            send(Topics.RUN_COMMANDS, runId, EventEnvelope.of(EventTypes.RUN_TAKEN, runId, new RunTaken(runId, q,
                    runId, agentId)));
        }
        fact(EventTypes.RUN_STARTING, held);
        if (commandsOnTopic) {
            send(Topics.RUN_COMMANDS, runId, EventEnvelope.of(EventTypes.RUN_LAUNCHING, runId, new RunTaken(runId, q,
                    runId, agentId, handle, true)));
        } else {
            pool.preparedQuery("INSERT INTO run_launch (run_id, item_id, agent_id, handle, adoptable, recorded_at) "
                            + "VALUES ($1, $1, $2, $3, true, now() - interval '30 days')")
                    .execute(io.vertx.mutiny.sqlclient.Tuple.of(runId, agentId, handle)).await().atMost(Duration.ofSeconds(10));
        }
        fact(EventTypes.RUN_RUNNING, held);
        awaitState(runId, "RUNNING");
        return runId;
    }

    private static List<AdoptRun> adoptRuns(String runId) {
        return adoptRuns(runId, 3); // RunTaken, RunLaunching and at least one AdoptRun
    }

    private static List<AdoptRun> adoptRuns(String runId, int records) {
        return TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.RUN_COMMANDS, runId, records).stream()
                .map(r -> Events.decode(r.value())).filter(e -> e.type().equals(EventTypes.ADOPT_RUN))
                .map(e -> e.payloadAs(AdoptRun.class)).toList();
    }

    @Test
    void workOfALostAgentThatOutlivesItIsOfferedForAdoptionNotRetriedOrFailed() throws Exception {
        String q = queue();
        String agentId = "agent-" + UUID.randomUUID();
        String runId = containerRunningOn(q, agentId);
        send(Topics.RUN_LOGS, runId, EventEnvelope.of(EventTypes.RUN_OUTPUT_LOGGED, runId, new RunLogBatch(runId, 1,
                agentId, 0, List.of(new RunLogBatch.Line("stdout", Instant.now(), "l0", 0L),
                new RunLogBatch.Line("stdout", Instant.now(), "l1", 1L)))));
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId + "/logs")
                .then().body(is("l0\nl1\n")));
        agentSaid(EventTypes.AGENT_HEARTBEAT, agentId, q, runId, 60);
        await().atMost(20, TimeUnit.SECONDS).until(() -> adoptRuns(runId).size() >= 1);
        AdoptRun adopt = adoptRuns(runId).get(0);
        assertEquals(agentId, adopt.fromAgent());
        assertEquals("launch-" + runId + "-1", adopt.handle());
        assertEquals("local-container", adopt.targetType());
        assertEquals(1L, adopt.logPosition(), "the adopter reads on after the last line stored");
        assertEquals(q, adopt.request().queue());
        given().when().get("/api/v1/runs/" + runId).then().body("state", is("RUNNING")).body("attempt", is(1));
        assertTrue(TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.RUN_COMMANDS, runId, 3).stream()
                .noneMatch(r -> Events.decode(r.value()).type().equals(EventTypes.STOP_RUN)), "nothing is stopped");

        // the adopter's fact moves the run to it; the detail lists the attempt's agents and handle
        String adopter = "adopter-" + UUID.randomUUID();
        RunLifecycle adopted = RunLifecycle.of(runId, q).withAgent(adopter, 1)
                .withTarget("local-container", "launch-" + runId + "-1").withItem(runId)
                .withReason("adopted by agent " + adopter + ": " + adopt.reason());
        fact(EventTypes.RUN_ADOPTED, adopted);
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId).then()
                .body("agentId", is(adopter)).body("state", is("RUNNING"))
                .body("attempts[0].agents", contains(agentId, adopter))
                .body("attempts[0].handle", is("launch-" + runId + "-1"))
                .body("history.reason", hasItem(startsWith("adopted by agent " + adopter))));
        // the adopter reads the output again from an earlier place: each line is stored once
        send(Topics.RUN_LOGS, runId, EventEnvelope.of(EventTypes.RUN_OUTPUT_LOGGED, runId, new RunLogBatch(runId, 1,
                adopter, 1, List.of(new RunLogBatch.Line("stdout", Instant.now(), "l1", 1L),
                new RunLogBatch.Line("stdout", Instant.now(), "l2", 2L)))));
        fact(EventTypes.RUN_FINISHED, RunLifecycle.of(runId, q).withAgent(adopter, 1).withExit(0));
        awaitState(runId, "FINISHED");
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId + "/logs")
                .then().body(is("l0\nl1\nl2\n")));
        given().when().get("/api/v1/runs/" + runId).then().body("attempts[0].outcome", is("FINISHED"));
    }

    @Test
    void aPreemptedRunIsQueuedAgainAsItsNextAttemptWhileAttemptsRemainThenFailed() throws Exception {
        String q = queue();
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(
                Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap()))) {
            dev.launch.messaging.TopicAdmin.ensure(admin, dev.launch.messaging.TopicAdmin.queueTopics(q, false));
        }
        String agentId = "agent-" + UUID.randomUUID();
        String runId = containerRunningOn(q, agentId, true, 2);
        fact(EventTypes.RUN_PREEMPTED, RunLifecycle.of(runId, q).withAgent(agentId, 1)
                .withReason("the pod was evicted (PreemptionByScheduler)"));
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId).then()
                .body("state", is("QUEUED")).body("attempt", is(2))
                .body("history.reason", hasItem(containsString("preempted: the pod was evicted"))));
        assertTrue(TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.RUN_COMMANDS, runId, 3).stream()
                .map(r -> Events.decode(r.value())).anyMatch(e -> e.type().equals(EventTypes.MOVE_RUN)
                        && e.payloadAs(dev.launch.common.event.MoveRun.class).retry()), "a retry on the command topic");

        String last = containerRunningOn(q, agentId, true, 1);
        fact(EventTypes.RUN_PREEMPTED, RunLifecycle.of(last, q).withAgent(agentId, 1).withReason("spot reclaimed"));
        awaitState(last, "FAILED");
        given().when().get("/api/v1/runs/" + last).then().body("failure.stage", is("target"))
                .body("failure.reason", containsString("preempted: spot reclaimed; no attempts left"));
    }

    @Test
    void eachLaunchRecordReadIsKeptInTheDatabase() throws Exception {
        String q = queue();
        String agentId = "agent-" + UUID.randomUUID();
        String runId = containerRunningOn(q, agentId);
        await().atMost(20, TimeUnit.SECONDS).until(() -> pool.preparedQuery("SELECT agent_id, handle, adoptable FROM "
                        + "run_launch WHERE run_id = $1 AND item_id = $1").execute(io.vertx.mutiny.sqlclient.Tuple.of(runId))
                .await().atMost(Duration.ofSeconds(10)).size() == 1);
        var row = pool.preparedQuery("SELECT agent_id, handle, adoptable FROM run_launch WHERE run_id = $1")
                .execute(io.vertx.mutiny.sqlclient.Tuple.of(runId)).await().atMost(Duration.ofSeconds(10)).iterator().next();
        assertEquals(agentId, row.getString("agent_id"));
        assertEquals("launch-" + runId + "-1", row.getString("handle"));
        assertTrue(row.getBoolean("adoptable"));
    }

    @Test
    void workWhoseLaunchRecordsAreOlderThanTheCommandTopicsRetentionIsStillAdoptedNotRetried() throws Exception {
        String q = queue();
        String agentId = "agent-" + UUID.randomUUID();
        String runId = containerRunningOn(q, agentId, false);
        agentSaid(EventTypes.AGENT_HEARTBEAT, agentId, q, runId, 60);
        await().atMost(20, TimeUnit.SECONDS).until(() -> adoptRuns(runId, 1).size() >= 1);
        AdoptRun adopt = adoptRuns(runId, 1).get(0);
        assertEquals(agentId, adopt.fromAgent());
        assertEquals("launch-" + runId + "-1", adopt.handle());
        List<String> types = TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.RUN_COMMANDS, runId, 1).stream()
                .map(r -> Events.decode(r.value()).type()).toList();
        assertEquals(List.of(EventTypes.ADOPT_RUN), types, "no retry beside the running work, no stop");
        given().when().get("/api/v1/runs/" + runId).then().body("state", is("RUNNING")).body("attempt", is(1));
    }

    @Test
    void anAgentThatStartsAgainUnderItsIdHasItsEarlierIncarnationsWorkOfferedForAdoptionAtOnce() throws Exception {
        String q = queue();
        String agentId = "agent-" + UUID.randomUUID();
        String runId = containerRunningOn(q, agentId);
        // the same id, started after the run's last report: a new incarnation, holding nothing yet
        send(Topics.AGENTS, agentId, EventEnvelope.of(EventTypes.AGENT_STARTED, agentId, new AgentStatus(agentId,
                List.of(q), 1, List.of(), "h", 2, 1000, Instant.now())));
        await().atMost(20, TimeUnit.SECONDS).until(() -> adoptRuns(runId).size() >= 1);
        assertTrue(adoptRuns(runId).get(0).reason().contains("started again"), adoptRuns(runId).get(0).reason());
        given().when().get("/api/v1/agents").then()
                .body("items.find { it.agentId == '" + agentId + "' }.state", anyOf(is("POLLING"), is("RUNNING")));
    }

    @Test
    void aReasonWhileStartingIsShownUntilTheRunMovesOn() throws Exception {
        String q = queue();
        String runId = queued(q, 0);
        RunLifecycle held = RunLifecycle.of(runId, q).withAgent("a", 1).withTarget("local-container", "launch-x");
        fact(EventTypes.RUN_CLAIMED, held);
        fact(EventTypes.RUN_STARTING, held);
        fact(EventTypes.RUN_PROGRESSED, held.withReason("pulling image busybox"));
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId).then()
                .body("state", is("STARTING")).body("pendingReason", is("pulling image busybox")));
        fact(EventTypes.RUN_RUNNING, held);
        awaitState(runId, "RUNNING");
        given().when().get("/api/v1/runs/" + runId).then().body("pendingReason", nullValue())
                .body("history.state", contains("QUEUED", "CLAIMED", "STARTING", "STARTING", "RUNNING"));
        // not while queued or after the end
        fact(EventTypes.RUN_FINISHED, held.withExit(0));
        fact(EventTypes.RUN_PROGRESSED, held.withReason("too late"));
        awaitState(runId, "FINISHED");
        given().when().get("/api/v1/runs/" + runId).then().body("pendingReason", nullValue());
    }
}
