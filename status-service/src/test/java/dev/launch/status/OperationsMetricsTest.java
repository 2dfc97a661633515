package dev.launch.status;

import dev.launch.common.event.AgentStatus;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.Topics;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.LaunchTestInfra;
import dev.launch.devstack.SharedInfra;
import dev.launch.status.metrics.OperationsGauges;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.is;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The operations metrics the status service derives from the read model (docs/operations.md). */
@QuarkusTest
@QuarkusTestResource(value = LaunchTestInfra.class, initArgs = @ResourceArg(name = "database", value = "status"))
class OperationsMetricsTest {
    private static KafkaProducer<String, String> producer;

    @Inject
    OperationsGauges gauges;

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
        return "ops-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** A fact as it occurred at {@code at}. */
    private static EventEnvelope fact(String type, RunLifecycle payload, Instant at) throws Exception {
        EventEnvelope event = new EventEnvelope(UUID.randomUUID(), type, EventEnvelope.SCHEMA_VERSION, at,
                payload.runId(), Events.MAPPER.valueToTree(payload));
        producer.send(new ProducerRecord<>(Topics.RUNS, payload.runId(), Events.encode(event))).get(10, TimeUnit.SECONDS);
        return event;
    }

    private static final java.util.concurrent.atomic.AtomicLong OFFSETS = new java.util.concurrent.atomic.AtomicLong();

    /** A run queued at {@code enqueuedAt}, at an offset of its own (as every queue item is). */
    private static String queuedAt(String queue, Instant enqueuedAt) throws Exception {
        String runId = RunIds.next();
        fact(EventTypes.RUN_QUEUED, new RunLifecycle(runId, queue, "train", 1, 1, null, null, null, null, null, null,
                OFFSETS.getAndIncrement(), null, enqueuedAt, null, null), enqueuedAt);
        return runId;
    }

    private static void awaitState(String runId, String state) {
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/runs/" + runId)
                .then().statusCode(200).body("state", is(state)));
    }

    private static String metrics() {
        return given().when().get("/q/metrics").then().statusCode(200).extract().asString();
    }

    /** The value of the series named with these labels (in any order), or null when there is none. */
    static Double value(String metrics, String name, Map<String, String> labels) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "\\{([^}]*)\\} (\\S+)$").matcher(metrics);
        while (m.find()) {
            String have = m.group(1);
            if (labels.entrySet().stream().allMatch(l -> have.contains(l.getKey() + "=\"" + l.getValue() + "\""))) {
                return Double.valueOf(m.group(2));
            }
        }
        return null;
    }

    @Test
    void transitionsAreTimedAndCountedOnceFromTheFactsTimes() throws Exception {
        String q = queue();
        Instant t0 = Instant.now().minusSeconds(600);
        String runId = queuedAt(q, t0);
        RunLifecycle held = RunLifecycle.of(runId, q).withAgent("agent-ops", 1);
        EventEnvelope claimed = fact(EventTypes.RUN_CLAIMED, held, t0.plusSeconds(2));
        // the same fact again changes nothing, and is not counted again
        producer.send(new ProducerRecord<>(Topics.RUNS, runId, Events.encode(claimed))).get(10, TimeUnit.SECONDS);
        fact(EventTypes.RUN_STARTING, held.withTarget("local-process", null), t0.plusSeconds(3));
        fact(EventTypes.RUN_RUNNING, held.withTarget("local-process", "pid:7"), t0.plusSeconds(5));
        fact(EventTypes.RUN_FINISHED, held.withExit(0), t0.plusSeconds(95));
        awaitState(runId, "FINISHED");

        String failed = queuedAt(q, t0);
        fact(EventTypes.RUN_CLAIMED, RunLifecycle.of(failed, q).withAgent("agent-ops", 1), t0.plusMillis(500));
        fact(EventTypes.RUN_FAILED, RunLifecycle.of(failed, q).withAgent("agent-ops", 1)
                .withFailure("build", "the image could not be built"), t0.plusSeconds(4));
        awaitState(failed, "FAILED");

        String m = metrics();
        assertEquals(2.0, value(m, "launch_run_dispatch_seconds_count", Map.of("queue", q, "until", "claimed")), m);
        assertEquals(2.5, value(m, "launch_run_dispatch_seconds_sum", Map.of("queue", q, "until", "claimed")), 0.01);
        assertEquals(1.0, value(m, "launch_run_dispatch_seconds_count", Map.of("queue", q, "until", "running")));
        assertEquals(5.0, value(m, "launch_run_dispatch_seconds_sum", Map.of("queue", q, "until", "running")), 0.01);
        // the SLO buckets: the 2 s claim is under 2.5 s, not under 1 s
        assertEquals(1.0, value(m, "launch_run_dispatch_seconds_bucket", Map.of("queue", q, "until", "claimed",
                "le", "1.0")));
        assertEquals(2.0, value(m, "launch_run_dispatch_seconds_bucket", Map.of("queue", q, "until", "claimed",
                "le", "2.5")));
        assertEquals(1.0, value(m, "launch_run_duration_seconds_count", Map.of("queue", q, "outcome", "finished")));
        assertEquals(90.0, value(m, "launch_run_duration_seconds_sum", Map.of("queue", q, "outcome", "finished")), 0.01);
        assertEquals(1.0, value(m, "launch_runs_ended_total", Map.of("queue", q, "outcome", "finished")));
        assertEquals(1.0, value(m, "launch_runs_ended_total", Map.of("queue", q, "outcome", "failed")));
        assertEquals(1.0, value(m, "launch_run_failures_total", Map.of("queue", q, "stage", "build")));
        // a run that never ran has no duration
        assertEquals(null, value(m, "launch_run_duration_seconds_count", Map.of("queue", q, "outcome", "failed")));
    }

    @Test
    void gaugesShowTheQueuesWaitsAgentsAndLagFromTheReadModel() throws Exception {
        String q = queue();
        Instant now = Instant.now();
        String waiting = queuedAt(q, now.minusSeconds(300));
        queuedAt(q, now.minusSeconds(10));
        String starting = queuedAt(q, now.minusSeconds(200));
        RunLifecycle held = RunLifecycle.of(starting, q).withAgent("agent-ops", 1);
        fact(EventTypes.RUN_CLAIMED, held, now.minusSeconds(130));
        fact(EventTypes.RUN_STARTING, held.withTarget("local-container", null), now.minusSeconds(120));
        awaitState(starting, "STARTING");
        awaitState(waiting, "QUEUED");
        String agentId = "agent-ops-" + UUID.randomUUID();
        producer.send(new ProducerRecord<>(Topics.AGENTS, agentId, Events.encode(EventEnvelope.of(
                EventTypes.AGENT_HEARTBEAT, agentId, new AgentStatus(agentId, List.of(q), 3, List.of(starting),
                        "host", 1, 60_000, now))))).get(10, TimeUnit.SECONDS);
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().when().get("/api/v1/agents?queue=" + q)
                .then().body("items.agentId", org.hamcrest.Matchers.hasItem(agentId)));

        gauges.refreshNow().await().atMost(Duration.ofSeconds(30));
        String m = metrics();
        assertEquals(2.0, value(m, "launch_runs", Map.of("queue", q, "state", "QUEUED")), m);
        assertEquals(1.0, value(m, "launch_runs", Map.of("queue", q, "state", "STARTING")));
        assertEquals(0.0, value(m, "launch_runs", Map.of("queue", q, "state", "FINISHED")));
        assertEquals(2.0, value(m, "launch_queue_depth", Map.of("queue", q, "level", "default")));
        double oldest = value(m, "launch_queue_oldest_queued_age_seconds", Map.of("queue", q));
        assertTrue(oldest >= 300 && oldest < 400, "oldest queued age " + oldest);
        double inStarting = value(m, "launch_runs_oldest_in_state_seconds", Map.of("queue", q, "state", "STARTING"));
        assertTrue(inStarting >= 120 && inStarting < 200, "oldest STARTING " + inStarting);
        assertEquals(0.0, value(m, "launch_runs_oldest_in_state_seconds", Map.of("queue", q, "state", "STOPPING")));
        assertEquals(1.0, value(m, "launch_queue_agents", Map.of("queue", q)));
        assertTrue(value(m, "launch_agents", Map.of("state", "RUNNING")) >= 1, m);
        assertTrue(value(m, "launch_agent_slots", Map.of("state", "free")) >= 2);
        assertTrue(value(m, "launch_agent_slots", Map.of("state", "used")) >= 1);
        // the group's lag shows once it has committed what it applied (the consumer commits every few seconds)
        await().atMost(30, TimeUnit.SECONDS).untilAsserted(() -> {
            gauges.refreshNow().await().atMost(Duration.ofSeconds(30));
            Double lag = value(metrics(), "launch_kafka_consumer_lag_records", Map.of("group", "launch.status.runs",
                    "topic", Topics.RUNS));
            assertTrue(lag != null && lag >= 0, "lag of launch.status.runs: " + lag);
        });
        assertTrue(Pattern.compile("(?m)^launch_status_read_model_lag_records(\\{[^}]*\\})? \\d").matcher(m).find());

        // the run leaves STARTING: the age goes back to 0 at the next refresh
        producer.send(new ProducerRecord<>(Topics.RUNS, starting, Events.encode(EventEnvelope.of(
                EventTypes.RUN_RUNNING, starting, held.withTarget("local-container", "c1"))))).get(10, TimeUnit.SECONDS);
        awaitState(starting, "RUNNING");
        gauges.refreshNow().await().atMost(Duration.ofSeconds(30));
        m = metrics();
        assertEquals(0.0, value(m, "launch_runs_oldest_in_state_seconds", Map.of("queue", q, "state", "STARTING")));
        assertEquals(1.0, value(m, "launch_runs", Map.of("queue", q, "state", "RUNNING")));
    }
}
