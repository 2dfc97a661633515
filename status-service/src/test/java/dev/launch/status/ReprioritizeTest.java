package dev.launch.status;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.launch.common.event.AgentStatus;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.MoveRun;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunRequest;
import dev.launch.common.event.RunTaken;
import dev.launch.messaging.TopicAdmin;
import dev.launch.common.event.Topics;
import dev.launch.common.job.JobSource;
import dev.launch.common.naming.RunIds;
import dev.launch.common.run.Priority;
import dev.launch.devstack.LaunchTestInfra;
import dev.launch.devstack.SharedInfra;
import dev.launch.devstack.TopicReader;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** PATCH /api/v1/runs/{id}: moving a queued run between levels, and the positions and reasons that follow. */
@QuarkusTest
@QuarkusTestResource(value = LaunchTestInfra.class, initArgs = @ResourceArg(name = "database", value = "status"))
class ReprioritizeTest {
    private static KafkaProducer<String, String> producer;

    @BeforeAll
    static void connect() {
        producer = new KafkaProducer<>(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap(), "acks", "all",
                "key.serializer", StringSerializer.class.getName(), "value.serializer", StringSerializer.class.getName()));
    }

    @AfterAll
    static void disconnect() {
        producer.close();
    }

    /** A queue with priorities: its level topics exist, as the queue service would have created them. */
    private static String prioritizedQueue() {
        String queue = "pq-" + UUID.randomUUID().toString().substring(0, 8);
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap()))) {
            TopicAdmin.ensure(admin, TopicAdmin.queueTopics(queue, true));
        }
        return queue;
    }

    /** An enqueue as the queue service writes it: the item on its level's topic, then the RunQueued fact. */
    private static String queued(String queue, String priority) throws Exception {
        return queued(queue, priority, 1);
    }

    private static String queued(String queue, String priority, int maxAttempts) throws Exception {
        String runId = RunIds.next();
        RunRequest request = new RunRequest(runId, queue, "train", 1, "sha256:x",
                new JobSource(JobSource.CODE, null, null, null, null, "/a", "/b"), List.of("sh", "t.sh"),
                JsonNodeFactory.instance.objectNode(), JsonNodeFactory.instance.objectNode().put("type", "noop"), 1,
                maxAttempts, priority, Instant.now(), null);
        long offset = producer.send(new ProducerRecord<>(Topics.queueItems(queue, Priority.parse(priority).orElse(null)),
                runId, Events.encode(EventEnvelope.of(EventTypes.RUN_REQUESTED, runId, request))))
                .get(10, TimeUnit.SECONDS).offset();
        producer.send(new ProducerRecord<>(Topics.RUNS, runId, Events.encode(EventEnvelope.of(EventTypes.RUN_QUEUED,
                runId, RunLifecycle.queued(request, offset))))).get(10, TimeUnit.SECONDS);
        await().atMost(20, TimeUnit.SECONDS).until(() -> given().get("/api/v1/runs/" + runId).statusCode() == 200);
        return runId;
    }

    private static List<EventEnvelope> read(String topic, String key, int atLeast) {
        return TopicReader.read(SharedInfra.kafkaBootstrap(), topic, key, atLeast).stream()
                .map(r -> Events.decode(r.value())).toList();
    }

    private static io.restassured.response.ValidatableResponse patch(String runId, String body) {
        return given().contentType(ContentType.JSON).body(body).when().patch("/api/v1/runs/" + runId).then();
    }

    @Test
    void aQueuedRunMovesToTheTailOfItsNewLevel() throws Exception {
        String queue = prioritizedQueue();
        String lowFirst = queued(queue, "low");
        String high = queued(queue, "high");
        String lowSecond = queued(queue, "low");
        given().get("/api/v1/runs/" + lowSecond).then().body("position", is(2)).body("pendingReason", is(
                "no agent serves queue '" + queue + "'; start one with: ./launch agent --queue " + queue
                        + " (waiting for higher priorities: 1 run of higher priority goes first, then 1 run of its "
                        + "own priority)"));

        patch(lowSecond, "{\"priority\":\"high\"}").statusCode(200).body("priority", is("high"))
                .body("previousPriority", is("low")).body("moved", is(true));
        // the new item is at the tail of its level: behind the run that was already high
        given().get("/api/v1/runs/" + lowSecond).then().body("priority", is("high")).body("state", is("QUEUED"))
                .body("position", is(1)).body("history.reason", hasItem("priority low -> high"));
        given().get("/api/v1/runs/" + lowFirst).then().body("position", is(2));
        given().get("/api/v1/queue-stats/" + queue).then()
                .body("queuedByPriority.critical", is(0)).body("queuedByPriority.high", is(2))
                .body("queuedByPriority.medium", is(0)).body("queuedByPriority.low", is(1));

        List<EventEnvelope> items = read(Topics.queueLevel(queue, Priority.HIGH), lowSecond, 1);
        assertEquals(1, items.size());
        RunRequest item = items.get(0).payloadAs(RunRequest.class);
        assertEquals("high", item.priority());
        List<EventEnvelope> commands = read(Topics.RUN_COMMANDS, lowSecond, 1);
        assertEquals(List.of(EventTypes.MOVE_RUN), commands.stream().map(EventEnvelope::type).toList());
        assertEquals(item.itemId(), commands.get(0).payload().get("toItem").asText());
        assertEquals(lowSecond, commands.get(0).payload().get("fromItem").asText());

        // asking for the level it has changes nothing
        patch(lowSecond, "{\"priority\":\"high\"}").statusCode(200).body("moved", is(false));
        assertEquals(1, read(Topics.queueLevel(queue, Priority.HIGH), lowSecond, 1).size());
        // and it can move on from there: to critical, first in the queue
        patch(lowSecond, "{\"priority\":\"critical\"}").statusCode(200).body("previousPriority", is("high"));
        given().get("/api/v1/runs/" + lowSecond).then().body("position", is(0)).body("priority", is("critical"));
        given().get("/api/v1/runs/" + high).then().body("position", is(1)).body("pendingReason",
                containsString("waiting for higher priorities: 1 run of higher priority goes first"));
    }

    @Test
    void aMoveThatComesAfterAnAgentTookTheRunIsRefusedAndChangesNothing() throws Exception {
        String queue = prioritizedQueue();
        String runId = queued(queue, "low");
        // an agent took the item; its RunClaimed has not reached the read model yet, so the run still looks QUEUED
        producer.send(new ProducerRecord<>(Topics.RUN_COMMANDS, runId, Events.encode(EventEnvelope.of(
                EventTypes.RUN_TAKEN, runId, new RunTaken(runId, queue, runId, "agent-x"))))).get(10, TimeUnit.SECONDS);
        patch(runId, "{\"priority\":\"critical\"}").statusCode(409).contentType("application/problem+json")
                .body("detail", containsString("taken by an agent"));
        given().get("/api/v1/runs/" + runId).then().body("priority", is("low")).body("state", is("QUEUED"))
                .body("history", hasSize(1));
    }

    @Test
    void badChangesAreProblemsAndChangeNothing() throws Exception {
        String queue = prioritizedQueue();
        String runId = queued(queue, "medium");
        patch(runId, "{\"priority\":\"urgent\"}").statusCode(400).contentType("application/problem+json")
                .body("errors[0].field", is("priority")).body("errors[0].message", containsString("critical, high"));
        patch(runId, "{}").statusCode(400).body("errors[0].field", is("priority"));
        patch(runId, "{\"priority\":\"high\",\"queue\":\"other\"}").statusCode(400);
        patch(RunIds.next(), "{\"priority\":\"high\"}").statusCode(404);
        patch("not-a-run", "{\"priority\":\"high\"}").statusCode(400);
        given().get("/api/v1/runs/" + runId).then().body("priority", is("medium"));

        String plainQueue = "q-" + UUID.randomUUID().toString().substring(0, 8);
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap()))) {
            TopicAdmin.ensure(admin, TopicAdmin.queueTopics(plainQueue, false));
        }
        String plain = queued(plainQueue, null);
        patch(plain, "{\"priority\":\"high\"}").statusCode(409).body("detail",
                containsString("does not enable prioritization"));

        String claimed = queued(queue, "low");
        producer.send(new ProducerRecord<>(Topics.RUNS, claimed, Events.encode(EventEnvelope.of(EventTypes.RUN_CLAIMED,
                claimed, RunLifecycle.of(claimed, queue).withAgent("agent-y", 1))))).get(10, TimeUnit.SECONDS);
        await().atMost(20, TimeUnit.SECONDS).until(() -> "CLAIMED".equals(given().get("/api/v1/runs/" + claimed)
                .path("state")));
        patch(claimed, "{\"priority\":\"high\"}").statusCode(409).body("detail", containsString("is CLAIMED"));
    }

    private static void command(String type, String runId, String queue, String item, String agent) throws Exception {
        producer.send(new ProducerRecord<>(Topics.RUN_COMMANDS, runId, Events.encode(EventEnvelope.of(type, runId,
                new RunTaken(runId, queue, item, agent))))).get(10, TimeUnit.SECONDS);
    }

    private static void fact(String type, RunLifecycle fact) throws Exception {
        producer.send(new ProducerRecord<>(Topics.RUNS, fact.runId(), Events.encode(EventEnvelope.of(type,
                fact.runId(), fact)))).get(10, TimeUnit.SECONDS);
    }

    /** {@code agent} (1 s heartbeats) last heard of a minute ago, holding {@code runId}: LOST. */
    private static void silentSinceAMinute(String agent, String queue, String runId) throws Exception {
        producer.send(new ProducerRecord<>(Topics.AGENTS, agent, Events.encode(new EventEnvelope(UUID.randomUUID(),
                EventTypes.AGENT_HEARTBEAT, 1, Instant.now().minusSeconds(60), agent, Events.MAPPER.valueToTree(
                new AgentStatus(agent, List.of(queue), 1, List.of(runId), "h", 1, 1000,
                        Instant.now().minusSeconds(120))))))).get(10, TimeUnit.SECONDS);
    }

    /** An agent takes {@code item}, starts it, and reports it running as {@code attempt}. */
    private static void startedBy(String agent, String queue, String runId, String item, int attempt) throws Exception {
        command(EventTypes.RUN_TAKEN, runId, queue, item, agent);
        command(EventTypes.RUN_LAUNCHING, runId, queue, item, agent);
        RunLifecycle held = RunLifecycle.of(runId, queue).withAgent(agent, attempt);
        fact(EventTypes.RUN_CLAIMED, held.withItem(item));
        fact(EventTypes.RUN_RUNNING, held.withTarget("noop", "noop:" + runId));
    }

    @Test
    void aStartedRunOfALostAgentIsRetriedAsItsNextAttemptUntilItsAttemptsRunOut() throws Exception {
        String queue = prioritizedQueue();
        String runId = queued(queue, "high", 2);
        String first = "agent-" + UUID.randomUUID();
        startedBy(first, queue, runId, runId, 1);
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().get("/api/v1/runs/" + runId).then()
                .body("state", is("RUNNING")));
        silentSinceAMinute(first, queue, runId);

        // retried: queued again as attempt 2, at the tail of its level, as a new item
        await().atMost(30, TimeUnit.SECONDS).untilAsserted(() -> given().get("/api/v1/runs/" + runId).then()
                .body("state", is("QUEUED")).body("attempt", is(2)).body("priority", is("high"))
                .body("history.reason", hasItem(containsString("retrying: attempt 2 of 2"))));
        List<EventEnvelope> items = read(Topics.queueLevel(queue, Priority.HIGH), runId, 2);
        RunRequest retried = items.get(items.size() - 1).payloadAs(RunRequest.class);
        assertEquals(2, retried.attempt());
        assertNotEquals(runId, retried.item());
        MoveRun retry = read(Topics.RUN_COMMANDS, runId, 3).stream()
                .filter(e -> EventTypes.MOVE_RUN.equals(e.type())).findFirst().orElseThrow().payloadAs(MoveRun.class);
        assertEquals(Integer.valueOf(2), retry.attempt());
        assertEquals(first, retry.releasedFrom());

        // attempt 2 runs on another agent; a late report of attempt 1 changes nothing; the second agent is lost too
        String second = "agent-" + UUID.randomUUID();
        startedBy(second, queue, runId, retried.item(), 2);
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().get("/api/v1/runs/" + runId).then()
                .body("state", is("RUNNING")).body("agentId", is(second)));
        fact(EventTypes.RUN_FINISHED, RunLifecycle.of(runId, queue).withAgent(first, 1).withExit(0));
        silentSinceAMinute(second, queue, runId);

        // no attempt left: FAILED in stage agent
        await().atMost(30, TimeUnit.SECONDS).untilAsserted(() -> given().get("/api/v1/runs/" + runId).then()
                .body("state", is("FAILED")).body("failure.stage", is("agent"))
                .body("failure.reason", containsString("agent " + second + " was lost")));
        given().get("/api/v1/runs/" + runId).then().body("attempt", is(2))
                .body("history.state", contains("QUEUED", "CLAIMED", "RUNNING", "QUEUED", "CLAIMED", "RUNNING",
                        "FAILED"));
    }
}
