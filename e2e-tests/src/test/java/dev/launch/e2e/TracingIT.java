package dev.launch.e2e;

import dev.launch.e2e.TraceReceiver.ReceivedSpan;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.is;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * OpenTelemetry tracing across the processes, on the shared stack (whose services and agents export to a
 * {@link TraceReceiver} of the test's own): a client enqueues a run in a trace of its own (a {@code traceparent}
 * header, as an instrumented notebook or CI job sends one), and that one trace holds the queue service's spans
 * (the request, the run's write to Kafka), the agent's (taking the item, submitting it), and the status service's
 * (applying each of the run's facts, RunQueued to RunFinished), each child of the span of the process before it.
 */
class TracingIT {
    private static final String SCRIPT = """
            case "$LAUNCH_INPUTS" in
              *'"mode":"sleep"'*) sleep 120 ;;
              *) echo traced ;;
            esac
            """;

    private static LaunchStack stack;
    private static ServiceProcess agent;
    private static String queue;
    private static String job;

    @BeforeAll
    static void start() throws Exception {
        stack = LaunchStack.shared();
        Path code = Files.createTempDirectory("e2e-traced");
        Files.writeString(code.resolve("run.sh"), SCRIPT);
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        job = "traced-" + suffix;
        queue = "traced-" + suffix;
        given().baseUri(stack.jobs.url()).contentType(ContentType.JSON).body("""
                {"name":"%s","source":{"type":"code","artifact":"%s"},"entrypoint":["sh","run.sh"],
                 "inputs":{"schema":{"type":"object","properties":{"mode":{"enum":["quick","sleep"]}}},
                           "defaults":{"mode":"quick"}}}""".formatted(job, code))
                .when().post("/api/v1/jobs").then().statusCode(201);
        given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"name\":\"" + queue + "\",\"target\":{\"type\":\"local-process\"}}")
                .when().post("/api/v1/queues").then().statusCode(201);
        agent = stack.agent("traced-agent-" + suffix, 1, queue);
    }

    @AfterAll
    static void stop() {
        if (agent != null) {
            agent.close();
        }
    }

    /** A new trace id and the {@code traceparent} of a sampled client span in it. */
    private static String[] clientTrace() {
        SecureRandom random = new SecureRandom();
        byte[] trace = new byte[16];
        byte[] span = new byte[8];
        random.nextBytes(trace);
        random.nextBytes(span);
        String traceId = HexFormat.of().formatHex(trace);
        String spanId = HexFormat.of().formatHex(span);
        return new String[]{traceId, spanId, "00-" + traceId + "-" + spanId + "-01"};
    }

    private static String enqueue(String traceParent, String mode) {
        return given().baseUri(stack.queues.url()).contentType(ContentType.JSON).header("traceparent", traceParent)
                .body("{\"job\":\"" + job + "\",\"inputs\":{\"mode\":\"" + mode + "\"}}")
                .when().post("/api/v1/queues/" + queue + "/runs")
                .then().statusCode(202).extract().path("runId");
    }

    private static void awaitState(String runId, String state) {
        await().atMost(90, TimeUnit.SECONDS).pollInterval(100, TimeUnit.MILLISECONDS)
                .untilAsserted(() -> given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId)
                        .then().statusCode(200).body("state", is(state)));
    }

    private static List<ReceivedSpan> trace(String traceId) {
        return stack.traces.spans().stream().filter(s -> s.traceId().equals(traceId)).toList();
    }

    /** Waits until the trace has a span matching {@code which}, and returns it (the first, when several do). */
    private static ReceivedSpan awaitSpan(String traceId, String what, Predicate<ReceivedSpan> which) {
        try {
            return await().atMost(30, TimeUnit.SECONDS).pollInterval(100, TimeUnit.MILLISECONDS)
                    .until(() -> trace(traceId).stream().filter(which).findFirst(), java.util.Optional::isPresent)
                    .orElseThrow();
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("no " + what + " in trace " + traceId + "; it holds:\n" + describe(traceId)
                    + "\nrequests refused by the receiver: " + stack.traces.refused(), e);
        }
    }

    private static String describe(String traceId) {
        return trace(traceId).stream().map(ReceivedSpan::toString).collect(Collectors.joining("\n"));
    }

    private static Predicate<ReceivedSpan> span(String service, String name, String runId) {
        return s -> s.service().equals(service) && s.name().equals(name) && runId.equals(s.attribute("launch.run.id"));
    }

    @Test
    void oneRunsSpansFromItsEnqueueThroughTheAgentToTheStatusServiceShareTheCallersTrace() {
        String[] client = clientTrace();
        String traceId = client[0];
        String runId = enqueue(client[2], "quick");
        awaitState(runId, "FINISHED");

        // the queue service: the request continues the client's trace; the run's write is a child of it
        ReceivedSpan request = awaitSpan(traceId, "queue service request span", s ->
                s.service().equals("launch-queue-service") && s.kind().equals("SPAN_KIND_SERVER"));
        assertEquals(client[1], request.parentSpanId(), "the request's span is the client span's child");
        ReceivedSpan write = awaitSpan(traceId, "the run's write", span("launch-queue-service",
                "publish launch.queue." + queue, runId));
        assertEquals("SPAN_KIND_PRODUCER", write.kind());
        assertEquals(request.spanId(), write.parentSpanId(), "the write is the request's child:\n" + describe(traceId));

        // the agent: taking the item is a child of the write (the item's trace), the submit a child of the take
        ReceivedSpan take = awaitSpan(traceId, "the agent's take", span("launch-agent-service",
                "receive launch.queue." + queue, runId));
        assertEquals(write.spanId(), take.parentSpanId(), "the take continues the item's trace:\n" + describe(traceId));
        assertEquals(agent.name(), take.attribute("launch.agent"));
        ReceivedSpan submit = awaitSpan(traceId, "the agent's submit", span("launch-agent-service",
                "submit local-process", runId));
        assertEquals(take.spanId(), submit.parentSpanId(), describe(traceId));

        // the status service: each fact applied in the trace, as a child of the span that wrote it
        Map<String, String> writers = Map.of("RunQueued", write.spanId(), "RunClaimed", take.spanId(),
                "RunStarting", submit.spanId());
        for (String fact : List.of("RunQueued", "RunClaimed", "RunStarting", "RunRunning", "RunFinished")) {
            ReceivedSpan applied = awaitSpan(traceId, "the status service applying " + fact,
                    span("launch-status-service", "apply " + fact, runId));
            assertEquals("SPAN_KIND_CONSUMER", applied.kind());
            String parent = writers.get(fact);
            if (parent != null) {
                assertEquals(parent, applied.parentSpanId(), fact + " is applied as a child of the span that wrote "
                        + "it:\n" + describe(traceId));
            } else {
                Set<String> agentSpans = Set.of(take.spanId(), submit.spanId());
                assertTrue(agentSpans.contains(applied.parentSpanId()), fact + " is applied as a child of an agent "
                        + "span:\n" + describe(traceId));
            }
        }
        Set<String> ids = trace(traceId).stream().map(ReceivedSpan::spanId).collect(Collectors.toSet());
        for (ReceivedSpan s : trace(traceId)) {
            assertTrue(s.parentSpanId().equals(client[1]) || ids.contains(s.parentSpanId()),
                    "every span of the trace hangs from the client's span or one of the trace: " + s);
        }
        assertTrue(stack.traces.refused().isEmpty(), "the receiver refused: " + stack.traces.refused());
    }

    @Test
    void aStopIsInTheRunsTraceAndTwoRunsDoNotShareOne() {
        String[] first = clientTrace();
        String[] second = clientTrace();
        String sleeper = enqueue(first[2], "sleep");
        awaitState(sleeper, "RUNNING");
        given().baseUri(stack.status.url()).when().post("/api/v1/runs/" + sleeper + "/stop").then().statusCode(202);
        awaitState(sleeper, "STOPPED");
        String after = enqueue(second[2], "quick");
        awaitState(after, "FINISHED");

        ReceivedSpan stop = awaitSpan(first[0], "the agent's stop", span("launch-agent-service",
                "stop local-process", sleeper));
        ReceivedSpan stopped = awaitSpan(first[0], "the status service applying RunStopped",
                span("launch-status-service", "apply RunStopped", sleeper));
        ReceivedSpan stopping = awaitSpan(first[0], "the status service applying RunStopping",
                span("launch-status-service", "apply RunStopping", sleeper));
        assertEquals(stop.spanId(), stopping.parentSpanId(), describe(first[0]));
        assertFalse(stopped.parentSpanId().isEmpty());

        awaitSpan(second[0], "the second run's finish", span("launch-status-service", "apply RunFinished", after));
        assertTrue(trace(first[0]).stream().allMatch(s -> s.attribute("launch.run.id") == null
                        || s.attribute("launch.run.id").equals(sleeper)),
                "only the first run is in the first trace:\n" + describe(first[0]));
        assertTrue(trace(second[0]).stream().allMatch(s -> s.attribute("launch.run.id") == null
                        || s.attribute("launch.run.id").equals(after)),
                "only the second run is in the second trace:\n" + describe(second[0]));
    }
}
