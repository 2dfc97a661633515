package dev.launch.e2e;

import dev.launch.devstack.Podman;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The local-container target end to end, on the real engine (podman with runc, a busybox image made here): a
 * queue made from a W&amp;B-style config, and work that outlives its agent — killed with -9, stopped with SIGTERM,
 * restarted under the same id — adopted by an agent of its queue, watched to its end, each output line stored
 * once, one container for the attempt.
 */
class ContainerLaunchIT {
    /** Prints line-1 … line-16, one every half second: long enough to lose its agent in the middle. */
    private static final String COUNTING = "for i in $(seq 1 16); do echo line-$i; sleep 0.5; done";
    private static final String INSTALLATION = "e2e-" + UUID.randomUUID();

    private static LaunchStack stack;
    private static String suffix;

    @BeforeAll
    static void start() {
        stack = LaunchStack.shared();
        suffix = UUID.randomUUID().toString().substring(0, 8);
    }

    @BeforeEach
    void engine() {
        Podman.require();
    }

    private static Map<String, String> agentSettings() {
        Map<String, String> settings = new HashMap<>();
        settings.put("LAUNCH_CONTAINER_ENGINE", Podman.engineCommand());
        settings.put("LAUNCH_CONTAINER_PULL", "never");
        settings.put("LAUNCH_INSTALLATION", INSTALLATION);
        settings.put("LAUNCH_AGENT_HEARTBEAT_INTERVAL", "PT1S");
        return settings;
    }

    private static ServiceProcess agent(String id, String queue) {
        return stack.agent(id, 2, agentSettings(), queue);
    }

    private static String imageJob(String name, String script) {
        given().baseUri(stack.jobs.url()).contentType(ContentType.JSON).body("""
                {"name":"%s","source":{"type":"image","image":"%s"},"entrypoint":["sh","-c",%s]}"""
                        .formatted(name, Podman.IMAGE, quote(script)))
                .when().post("/api/v1/jobs").then().statusCode(anyOf(is(200), is(201)));
        return name;
    }

    private static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    private static void containerQueue(String name, String config) {
        given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"target\":{\"type\":\"local-container\"}"
                        + (config == null ? "" : ",\"config\":" + config) + "}")
                .when().post("/api/v1/queues").then().statusCode(201);
    }

    private static String enqueue(String queue, String job) {
        return given().baseUri(stack.queues.url()).contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("runId");
    }

    private static JsonPath run(String runId) {
        return given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId)
                .then().statusCode(200).extract().jsonPath();
    }

    private static void awaitState(String runId, String state) {
        await().atMost(90, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS)
                .untilAsserted(() -> given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId)
                        .then().statusCode(200).body("state", is(state)));
    }

    private static String logs(String runId) {
        return given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId + "/logs")
                .then().statusCode(200).extract().asString();
    }

    @Test
    void aQueueMadeFromAWandbStyleConfigRunsAJobInAContainer() {
        String queue = "containers-" + suffix;
        String config = """
                {"env": ["GREETING=hello from the queue"], "shm_size": "64m", "rm": true,
                 "builder": {"accelerator": {"base_image": "nvidia/cuda:12.1.0-runtime-ubuntu22.04"}}}""";
        given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"name\":\"" + queue + "\",\"target\":{\"type\":\"local-container\"},\"config\":" + config + "}")
                .when().post("/api/v1/queues").then().statusCode(201)
                .body("notes", hasItems(containsString("config.builder is kept"), containsString("config.rm is ignored")));
        // what would weaken the container's isolation is refused by name, and nothing is created
        given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"name\":\"" + queue + "-bad\",\"target\":{\"type\":\"local-container\"},"
                        + "\"config\":{\"privileged\":true,\"network\":\"host\"}}")
                .when().post("/api/v1/queues").then().statusCode(400).contentType("application/problem+json")
                .body("errors.field", contains("config.privileged", "config.network"));
        given().baseUri(stack.queues.url()).when().get("/api/v1/queues/" + queue + "-bad").then().statusCode(404);

        String job = imageJob("greet-" + suffix, "echo \"$GREETING: run $LAUNCH_RUN_ID attempt $LAUNCH_ATTEMPT\"; exit 0");
        try (ServiceProcess agent = agent("containers-agent-" + suffix, queue)) {
            String runId = enqueue(queue, job);
            awaitState(runId, "FINISHED");
            JsonPath done = run(runId);
            assertEquals("local-container", done.getString("target.type"));
            assertEquals("launch-" + runId + "-1", done.getString("target.handle"));
            await().atMost(20, TimeUnit.SECONDS).until(() -> logs(runId).contains(
                    "hello from the queue: run " + runId + " attempt 1"));
            await().atMost(20, TimeUnit.SECONDS).until(() -> Podman.containersLabelled("launch.run-id", runId).isEmpty());
        }
    }

    /** Each of line-1 … line-16 appears exactly once in the run's stored output. */
    private static void assertEachLineOnce(String runId) {
        await().atMost(30, TimeUnit.SECONDS).until(() -> logs(runId).contains("line-16"));
        List<String> lines = logs(runId).lines().toList();
        assertEquals(IntStream.rangeClosed(1, 16).mapToObj(i -> "line-" + i).toList(), lines);
    }

    /** Starts a counting run on a fresh queue with {@code first} serving it; returns {@code [queue, runId]}. */
    private static String[] countingRun(String name, ServiceProcess[] first) {
        String queue = name + "-" + suffix;
        containerQueue(queue, null);
        String job = imageJob("count-" + suffix, COUNTING);
        first[0] = agent(queue + "-agent-1", queue);
        String runId = enqueue(queue, job);
        awaitState(runId, "RUNNING");
        await().atMost(30, TimeUnit.SECONDS).until(() -> logs(runId).contains("line-3"));
        return new String[] {queue, runId};
    }

    /** The run ended FINISHED under {@code adopter}, one container for its attempt all along, each line once. */
    private static void assertAdoptedAndFinished(String runId, String lostAgent, String adopter) {
        try {
            await().atMost(60, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS).untilAsserted(() ->
                    assertEquals(adopter, run(runId).getString("agentId")));
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            fail("run " + runId + " was not adopted by " + adopter + " within 60 s: " + run(runId).prettify()
                    + "\nwhat the logs say about it:\n" + LogEvidence.mentioning(runId, 40), e);
        }
        awaitState(runId, "FINISHED");
        JsonPath done = run(runId);
        assertEquals(0, done.getInt("exitCode"));
        assertEquals(1, done.getInt("attempt"), "adopted, not retried");
        assertEquals(1, done.getList("history.findAll { it.state == 'RUNNING' }").size() - adoptions(done),
                "one start");
        assertTrue(done.getList("history.reason").stream().anyMatch(r -> r != null
                && r.toString().contains("adopted by agent " + adopter)), done.prettify());
        assertEquals(List.of(lostAgent, adopter), done.getList("attempts[0].agents"));
        assertEquals("launch-" + runId + "-1", done.getString("attempts[0].handle"));
        assertEachLineOnce(runId);
        await().atMost(20, TimeUnit.SECONDS).until(() -> Podman.containersLabelled("launch.run-id", runId).isEmpty());
    }

    /** RunAdopted entries keep the state (RUNNING), so they show up as RUNNING in the history. */
    private static int adoptions(JsonPath run) {
        return (int) run.getList("history.reason").stream().filter(r -> r != null
                && r.toString().startsWith("adopted by agent")).count();
    }

    @Test
    void aContainerOutlivesItsKilledAgentAndIsAdoptedByAnotherAgentOfItsQueue() {
        ServiceProcess[] first = new ServiceProcess[1];
        String[] started = countingRun("adopt-kill", first);
        String queue = started[0];
        String runId = started[1];
        first[0].kill();
        assertEquals(List.of("launch-" + runId + "-1"), Podman.containersLabelled("launch.run-id", runId),
                "the container goes on without its agent");
        try (ServiceProcess second = agent(queue + "-agent-2", queue)) {
            assertAdoptedAndFinished(runId, queue + "-agent-1", queue + "-agent-2");
        }
    }

    @Test
    void aContainerLeftRunningByAnAgentThatStopsIsAdoptedAtOnce() {
        ServiceProcess[] first = new ServiceProcess[1];
        String[] started = countingRun("adopt-term", first);
        String queue = started[0];
        String runId = started[1];
        try (ServiceProcess second = agent(queue + "-agent-2", queue)) {
            first[0].close(); // SIGTERM: the agent leaves its container running and says goodbye
            assertFalse(first[0].isAlive());
            assertAdoptedAndFinished(runId, queue + "-agent-1", queue + "-agent-2");
        }
    }

    @Test
    void anAgentRestartedUnderItsOwnIdTakesBackTheContainerOfItsEarlierIncarnation() {
        ServiceProcess[] first = new ServiceProcess[1];
        String[] started = countingRun("adopt-restart", first);
        String queue = started[0];
        String runId = started[1];
        first[0].kill();
        try (ServiceProcess again = agent(queue + "-agent-1", queue)) {
            await().atMost(60, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS).until(() ->
                    adoptions(run(runId)) == 1);
            awaitState(runId, "FINISHED");
            JsonPath done = run(runId);
            assertEquals(queue + "-agent-1", done.getString("agentId"));
            assertEquals(1, done.getInt("attempt"));
            assertEachLineOnce(runId);
        }
    }
}
