package dev.launch.e2e;

import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The backbone walk, against the four services as real processes on a real broker and database:
 * create a job from a local directory, create a queue, serve it with an agent at max-jobs 1, enqueue five
 * runs, see them finish in order with their own environment, stop one while queued and one while running,
 * and see a failing script fail with its exit code.
 */
class LocalLaunchIT {
    private static final String SCRIPT = """
            echo "run $LAUNCH_RUN_ID job $LAUNCH_JOB queue $LAUNCH_QUEUE attempt $LAUNCH_ATTEMPT"
            echo "inputs $LAUNCH_INPUTS"
            case "$LAUNCH_INPUTS" in
              *'"mode":"sleep"'*) echo "pid $$"; sleep 120 ;;
              *'"mode":"fail"'*) echo "failing on purpose" >&2; exit 3 ;;
              *'"mode":"two"'*) sleep 2 ;;
              *) sleep 0.2 ;;
            esac
            """;

    private static LaunchStack stack;
    private static ServiceProcess agent;
    private static String agentId;
    private static String queue;
    private static String job;

    @BeforeAll
    static void start() throws Exception {
        stack = LaunchStack.shared();
        Path code = Files.createTempDirectory("e2e-code");
        Files.writeString(code.resolve("train.sh"), SCRIPT);
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        job = "train-" + suffix;
        queue = "e2e-" + suffix;
        given().baseUri(stack.jobs.url()).contentType(ContentType.JSON).body("""
                {"name":"%s","source":{"type":"code","artifact":"%s"},"entrypoint":["sh","train.sh"],
                 "inputs":{"schema":{"type":"object","properties":{"mode":{"enum":["quick","sleep","fail","two"]}}},
                           "defaults":{"mode":"quick"}}}""".formatted(job, code))
                .when().post("/api/v1/jobs").then().statusCode(201).body("version", is(1));
        localQueue(queue);
        agentId = "e2e-agent-" + suffix;
        agent = stack.agent(agentId, 1, queue);
    }

    @AfterAll
    static void stop() {
        if (agent != null) {
            agent.close();
        }
    }

    /** Creates a queue on the local-process target. */
    private static void localQueue(String name) {
        given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"name\":\"" + name + "\",\"target\":{\"type\":\"local-process\"}}")
                .when().post("/api/v1/queues").then().statusCode(201);
    }

    private static String enqueue(String mode) {
        return enqueue(queue, mode);
    }

    private static String enqueue(String onQueue, String mode) {
        return given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\",\"inputs\":{\"mode\":\"" + mode + "\"}}")
                .when().post("/api/v1/queues/" + onQueue + "/runs")
                .then().statusCode(202).body("state", is("QUEUED")).extract().path("runId");
    }

    private static JsonPath run(String runId) {
        return given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId)
                .then().statusCode(200).extract().jsonPath();
    }

    private static void awaitState(String runId, String state) {
        await().atMost(90, TimeUnit.SECONDS).pollInterval(100, TimeUnit.MILLISECONDS)
                .untilAsserted(() -> given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId)
                        .then().statusCode(200).body("state", is(state)));
    }

    private static String logs(String runId) {
        return given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId + "/logs")
                .then().statusCode(200).extract().asString();
    }

    /** The process id a sleeping run printed ("pid N"). */
    private static long pidOf(String runId) {
        await().atMost(30, TimeUnit.SECONDS).until(() -> logs(runId).contains("pid "));
        String log = logs(runId);
        return Long.parseLong(log.substring(log.indexOf("pid ") + 4).trim().split("\\s")[0]);
    }

    private static Instant at(JsonPath run, String state) {
        List<Map<String, String>> history = run.getList("history");
        return history.stream().filter(h -> h.get("state").equals(state)).map(h -> Instant.parse(h.get("at")))
                .findFirst().orElseThrow(() -> new AssertionError("no " + state + " in " + history));
    }

    @Test
    void anAgentShutDownWhileRunningLeavesNoProcessAndFailsItsRunInStageAgent() {
        String other = queue + "-shutdown";
        localQueue(other);
        ServiceProcess shortLived = stack.agent(other + "-agent", 1, other);
        String sleeper = enqueue(other, "sleep");
        awaitState(sleeper, "RUNNING");
        long pid = pidOf(sleeper);
        shortLived.close();
        awaitState(sleeper, "FAILED");
        assertEquals("agent", run(sleeper).getString("failure.stage"));
        assertTrue(ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true), "process " + pid + " outlived its agent");
        await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> given().baseUri(stack.status.url())
                .when().get("/api/v1/agents").then()
                .body("items.find { it.agentId == '" + other + "-agent' }.state", is("STOPPED")));
    }

    @Test
    void aQueueWithABoundedGpusVariableAndPriorities() {
        String prio = queue + "-prio";
        given().baseUri(stack.queues.url()).contentType(ContentType.JSON).body("""
                {"name":"%s","target":{"type":"local-process"},"prioritization":true,
                 "config":{"resources":{"gpus":"{{gpus}}"}},
                 "templateVariables":{"gpus":{"schema":{"type":"integer","minimum":0,"maximum":4},"default":1}}}"""
                        .formatted(prio))
                .when().post("/api/v1/queues").then().statusCode(201);
        ServiceProcess prioAgent = stack.agent(prio + "-agent", 1, prio);
        try {
            String blocker = enqueue(prio, "sleep");
            awaitState(blocker, "RUNNING");
            String low1 = enqueueAt(prio, "low", null);
            String medium = enqueueAt(prio, null, null);
            String high = enqueueAt(prio, "high", 2);
            String low2 = enqueueAt(prio, "low", null);
            given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                    .body("{\"job\":\"" + job + "\",\"templateVariables\":{\"gpus\":9}}")
                    .when().post("/api/v1/queues/" + prio + "/runs").then().statusCode(400)
                    .body("errors[0].field", is("templateVariables.gpus"))
                    .body("errors[0].message", containsString("4"));
            for (String id : List.of(low1, medium, high, low2)) {
                awaitState(id, "QUEUED");
            }

            given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + low2).then()
                    .body("position", is(3))
                    .body("pendingReason", is("the 1 agent serving queue '" + prio + "' is at max-jobs (1 of 1 "
                            + "slots busy); waiting for higher priorities: 2 runs of higher priority go first, then "
                            + "1 run of its own priority"));
            given().baseUri(stack.queues.url()).when().get("/api/v1/queues/" + prio).then().statusCode(200)
                    .body("queued", is(4)).body("running", is(1))
                    .body("queuedByPriority.critical", is(0)).body("queuedByPriority.high", is(1))
                    .body("queuedByPriority.medium", is(1)).body("queuedByPriority.low", is(2))
                    .body("agents[0].agentId", is(prio + "-agent"));

            given().baseUri(stack.status.url()).contentType(ContentType.JSON).body("{\"priority\":\"critical\"}")
                    .when().patch("/api/v1/runs/" + low2).then().statusCode(200).body("moved", is(true));
            given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + low2).then()
                    .body("position", is(0)).body("priority", is("critical"));

            given().baseUri(stack.status.url()).when().post("/api/v1/runs/" + blocker + "/stop").then()
                    .statusCode(202);
            for (String id : List.of(low2, high, medium, low1)) {
                awaitState(id, "FINISHED");
            }
            List<String> order = Stream.of(low1, medium, high, low2)
                    .sorted(Comparator.comparing(id -> at(run(id), "RUNNING"))).toList();
            assertEquals(List.of(low2, high, medium, low1), order);
            assertEquals(2, run(high).getInt("resolved.config.resources.gpus"));
            assertEquals(1, run(low1).getInt("resolved.config.resources.gpus"));
            assertEquals(1, run(low2).getList("history.findAll { it.state == 'RUNNING' }").size(),
                    "the moved run ran once");
        } finally {
            prioAgent.close();
        }
    }

    @Test
    void twoHundredRunsOfMixedPrioritiesEnqueuedThroughTheApiStartInPriorityOrder() {
        String blocking = queue + "-block";
        String many = queue + "-many";
        localQueue(blocking);
        given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"name\":\"" + many + "\",\"target\":{\"type\":\"noop\"},\"prioritization\":true}")
                .when().post("/api/v1/queues").then().statusCode(201);
        // one agent, one slot, both queues: a sleeping run on the first keeps the second waiting
        ServiceProcess busyAgent = stack.agent(many + "-agent", 1, blocking, many);
        try {
            String blocker = enqueue(blocking, "sleep");
            awaitState(blocker, "RUNNING");
            String[] levels = {"critical", "high", "medium", "low"};
            java.util.Random random = new java.util.Random(11);
            List<String> ids = new ArrayList<>();
            Map<String, Integer> rank = new java.util.HashMap<>();
            for (int i = 0; i < 200; i++) {
                int level = random.nextInt(4);
                String id = enqueueAt(many, levels[level], null);
                if (i < 20) { // read-your-writes (ADR 0004): readable right after its 202, never a 404
                    assertEquals("QUEUED", run(id).getString("state"), "run " + id + " read right after its 202");
                }
                ids.add(id);
                rank.put(id, level);
            }
            given().baseUri(stack.status.url()).when().post("/api/v1/runs/" + blocker + "/stop").then()
                    .statusCode(202);
            await().atMost(120, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS).untilAsserted(() ->
                    given().baseUri(stack.status.url()).when().get("/api/v1/runs/counts?queue=" + many).then()
                            .body("FINISHED", is(200)));
            Map<String, Instant> started = new java.util.HashMap<>();
            ids.forEach(id -> started.put(id, at(run(id), "RUNNING")));
            java.util.function.Function<List<String>, List<String>> named = order -> order.stream()
                    .map(id -> levels[rank.get(id)] + "#" + ids.indexOf(id)).toList();
            List<String> expected = ids.stream().sorted(Comparator.comparingInt(rank::get)).toList();
            List<String> actual = ids.stream().sorted(Comparator.comparing(started::get)).toList();
            assertEquals(named.apply(expected), named.apply(actual));
        } finally {
            busyAgent.close();
        }
    }

    @Test
    void aDrainingAgentLetsItsRunFinishTakesNothingNewAndAnotherAgentTakesOver() {
        String drained = queue + "-drain";
        localQueue(drained);
        ServiceProcess draining = stack.agent(drained + "-agent-1", 1, Map.of("LAUNCH_AGENT_DRAIN", "PT60S"), drained);
        String running = enqueue(drained, "two");
        awaitState(running, "RUNNING");
        draining.terminate();
        String later = enqueue(drained, "quick");
        awaitState(running, "FINISHED");
        await().atMost(30, TimeUnit.SECONDS).until(() -> !draining.isAlive());
        given().baseUri(stack.status.url()).when().get("/api/v1/agents?queue=" + drained).then()
                .body("items.find { it.agentId == '" + drained + "-agent-1' }.state", is("STOPPED"));
        assertEquals("QUEUED", run(later).getString("state"), "a draining agent takes nothing new");
        try (ServiceProcess next = stack.agent(drained + "-agent-2", 1, drained)) {
            awaitState(later, "FINISHED");
            assertEquals(drained + "-agent-2", run(later).getString("agentId"));
        }
        assertEquals(0, run(running).getInt("exitCode"));
    }

    @Test
    void aRunWhoseAgentIsKilledEndsItsProcessAndFailsInStageAgent() {
        String crashing = queue + "-crash";
        localQueue(crashing);
        ServiceProcess doomed = stack.agent(crashing + "-agent", 1, crashing);
        String sleeper = enqueue(crashing, "sleep");
        awaitState(sleeper, "RUNNING");
        long pid = pidOf(sleeper);
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
        doomed.kill();
        // the agent's watchdog ends the run's process group once the agent's process is gone
        await().atMost(20, TimeUnit.SECONDS).until(() -> ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true));
        // three missed heartbeats later the agent is LOST and the status service fails its run
        await().atMost(60, TimeUnit.SECONDS).pollInterval(500, TimeUnit.MILLISECONDS).untilAsserted(() ->
                given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + sleeper).then()
                        .body("state", is("FAILED")).body("failure.stage", is("agent"))
                        .body("failure.reason", containsString("was lost")));
        given().baseUri(stack.status.url()).when().get("/api/v1/agents?queue=" + crashing).then()
                .body("items.find { it.agentId == '" + crashing + "-agent' }.state", is("LOST"));
    }

    @Test
    void aRunWhoseAgentDiesBeforeStartingItIsHandedToAnotherAgentAndRunsOnce() throws Exception {
        String handed = queue + "-handover";
        localQueue(handed);
        Path code = Files.createTempDirectory("e2e-stall");
        // unique content: snapshots are stored by content, and this one gets a named pipe added
        Files.writeString(code.resolve("run.sh"), "echo handed over " + UUID.randomUUID() + "\n");
        String stallJob = job + "-stall";
        String snapshot = given().baseUri(stack.jobs.url()).contentType(ContentType.JSON)
                .body("{\"name\":\"" + stallJob + "\",\"source\":{\"type\":\"code\",\"artifact\":\"" + code
                        + "\"},\"entrypoint\":[\"sh\",\"run.sh\"]}")
                .when().post("/api/v1/jobs").then().statusCode(201).extract().path("source.snapshot");
        // a named pipe in the snapshot: an agent copying it into a workspace waits until someone writes to it,
        // so the run stays STARTING, taken but not started
        Path pipe = Path.of(snapshot).resolve("stall");
        assertEquals(0, new ProcessBuilder("mkfifo", pipe.toString()).start().waitFor());
        ServiceProcess first = stack.agent(handed + "-agent-1", 1, handed);
        String runId = given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"job\":\"" + stallJob + "\"}").when().post("/api/v1/queues/" + handed + "/runs")
                .then().statusCode(202).extract().path("runId");
        awaitState(runId, "STARTING");
        first.kill();
        // three missed heartbeats later the run goes back to its queue
        await().atMost(60, TimeUnit.SECONDS).pollInterval(500, TimeUnit.MILLISECONDS).untilAsserted(() ->
                given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId).then()
                        .body("state", is("QUEUED"))
                        .body("history.reason", hasItem(containsString("was lost before it started the run"))));
        try (ServiceProcess second = stack.agent(handed + "-agent-2", 1, handed)) {
            await().atMost(60, TimeUnit.SECONDS).untilAsserted(() ->
                    given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId).then()
                            .body("state", is("STARTING")).body("agentId", is(handed + "-agent-2")));
            try (var writer = Files.newOutputStream(pipe)) {
                writer.write('x');
            }
            awaitState(runId, "FINISHED");
        }
        JsonPath done = run(runId);
        assertEquals(handed + "-agent-2", done.getString("agentId"));
        assertEquals(1, done.getList("history.findAll { it.state == 'RUNNING' }").size());
        assertEquals(List.of("QUEUED", "CLAIMED", "STARTING", "QUEUED", "CLAIMED", "STARTING", "RUNNING", "FINISHED"),
                done.getList("history.state"));
    }

    /**
     * Three agents at max-jobs 1 share a queue: the queue stays with the agent the group gave it to, which hands
     * the items it has no slot for to the idle agents (ADR 0005) — every hand-off counted by the holder and by
     * its receiver, no rebalance while the runs go — and the starts keep queue order, each run once.
     */
    @Test
    void threeAgentsShareOneQueueByHandOffsAndItsOrderHolds() throws Exception {
        String shared = queue + "-shared";
        localQueue(shared);
        List<ServiceProcess> agents = new ArrayList<>();
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(Map.of(
                "bootstrap.servers", dev.launch.devstack.SharedInfra.kafkaBootstrap()))) {
            for (int i = 1; i <= 3; i++) {
                agents.add(stack.agent(shared + "-agent-" + i, 1, shared));
            }
            // the group has settled: three members, one holding the queue
            await().atMost(60, TimeUnit.SECONDS).until(() -> {
                var group = admin.describeConsumerGroups(List.of("launch.agents." + shared)).all()
                        .get(10, TimeUnit.SECONDS).get("launch.agents." + shared);
                return group.groupState() == org.apache.kafka.common.GroupState.STABLE && group.members().size() == 3
                        && group.members().stream().filter(m -> !m.assignment().topicPartitions().isEmpty())
                        .count() == 1;
            });
            Map<String, Double> assignedBefore = metric(agents, "launch_agent_queue_assignments_total", shared);
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < 9; i++) {
                ids.add(enqueue(shared, "two"));
            }
            for (String id : ids) {
                awaitState(id, "FINISHED");
            }
            Map<String, JsonPath> runs = new java.util.HashMap<>();
            ids.forEach(id -> runs.put(id, run(id)));
            assertEquals(3, ids.stream().map(id -> runs.get(id).getString("agentId")).distinct().count(),
                    "the runs spread over all three agents");
            // the holder claims every item, in queue order (ADR 0005); starts on different agents follow that
            // order only up to each agent's launch time, but each agent starts its own runs in it
            assertEquals(ids, ids.stream().sorted(Comparator.comparing(id -> at(runs.get(id), "CLAIMED"))).toList(),
                    "claims keep queue order");
            for (ServiceProcess peer : agents) {
                List<String> its = ids.stream().filter(id -> peer.name().equals(runs.get(id).getString("agentId")))
                        .toList();
                assertEquals(its, its.stream().sorted(Comparator.comparing(id -> at(runs.get(id), "RUNNING")))
                        .toList(), "starts on " + peer.name() + " keep queue order");
            }
            for (String id : ids) {
                assertEquals(1, runs.get(id).getList("history.findAll { it.state == 'RUNNING' }").size(), id);
            }
            assertEquals(assignedBefore, metric(agents, "launch_agent_queue_assignments_total", shared),
                    "no rebalance moved the queue while its runs went");
            Map<String, Double> handed = metric(agents, "launch_agent_handoffs_total", shared);
            Map<String, Double> received = metric(agents, "launch_agent_handoffs_received_total", null);
            String holder = handed.entrySet().stream().filter(e -> e.getValue() > 0).map(Map.Entry::getKey)
                    .findFirst().orElseThrow(() -> new AssertionError("no agent handed a run on: " + handed));
            long elsewhere = ids.stream().filter(id -> !holder.equals(runs.get(id).getString("agentId"))).count();
            assertEquals(elsewhere, handed.get(holder).longValue(),
                    "the holder handed on exactly the runs the other agents ran: " + handed);
            for (ServiceProcess peer : agents) {
                long ran = ids.stream().filter(id -> peer.name().equals(runs.get(id).getString("agentId"))).count();
                assertEquals(peer.name().equals(holder) ? 0 : ran, received.get(peer.name()).longValue(),
                        "hand-offs received by " + peer.name());
            }
            Instant first = at(runs.get(ids.get(0)), "RUNNING");
            Instant last = runs.get(ids.get(8)).getList("history.findAll { it.state == 'FINISHED' }.at").stream()
                    .map(at -> Instant.parse((String) at)).findFirst().orElseThrow();
            System.out.printf("9 runs of 2 s on 3 agents at max-jobs 1: first start to last end %d ms%n",
                    java.time.Duration.between(first, last).toMillis());
        } finally {
            agents.forEach(ServiceProcess::close);
        }
    }

    /**
     * A queue deleted and created again starts empty. Kafka drops a deleted topic's committed offsets, but an agent
     * still holding the old topic can commit after the new one exists: its offset must not make the agents skip
     * the new topic's first runs. Such a commit is played here (an offset past the first two runs, committed for
     * an earlier topic of the name), and every run is run all the same.
     */
    @Test
    void anOffsetCommittedForAnEarlierTopicOfTheQueuesNameDoesNotSkipItsRuns() throws Exception {
        String again = queue + "-again";
        localQueue(again);
        List<String> runs = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            runs.add(enqueue(again, "quick"));
        }
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(Map.of(
                "bootstrap.servers", dev.launch.devstack.SharedInfra.kafkaBootstrap()))) {
            // each enqueue is a transaction: items at 0, 2, 4, 6, markers between; 3 passes the first two
            admin.alterConsumerGroupOffsets("launch.agents." + again, Map.of(
                    new org.apache.kafka.common.TopicPartition("launch.queue." + again, 0),
                    new org.apache.kafka.clients.consumer.OffsetAndMetadata(3, "an-earlier-topic-id")))
                    .all().get(30, TimeUnit.SECONDS);
        }
        try (ServiceProcess agent = stack.agent(again + "-agent", 1, again)) {
            runs.forEach(id -> awaitState(id, "FINISHED"));
        }
    }

    /** One counter per agent (by agent name), read from its /q/metrics; {@code queue} null: untagged. */
    private static Map<String, Double> metric(List<ServiceProcess> agents, String name, String queue) {
        Map<String, Double> values = new java.util.TreeMap<>();
        java.util.regex.Pattern line = java.util.regex.Pattern.compile("^" + name
                + (queue == null ? "" : "\\{[^}]*queue=\"" + java.util.regex.Pattern.quote(queue) + "\"[^}]*\\}")
                + "\\s+([0-9.eE+-]+)$", java.util.regex.Pattern.MULTILINE);
        for (ServiceProcess agent : agents) {
            String text = given().baseUri(agent.url()).when().get("/q/metrics").then().statusCode(200).extract()
                    .asString();
            java.util.regex.Matcher m = line.matcher(text);
            values.put(agent.name(), m.find() ? Double.parseDouble(m.group(1)) : 0.0);
        }
        return values;
    }

    private static String enqueueAt(String onQueue, String priority, Integer gpus) {
        return given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\",\"inputs\":{\"mode\":\"quick\"}"
                        + (priority == null ? "" : ",\"priority\":\"" + priority + "\"")
                        + (gpus == null ? "" : ",\"templateVariables\":{\"gpus\":" + gpus + "}") + "}")
                .when().post("/api/v1/queues/" + onQueue + "/runs")
                .then().statusCode(202).extract().path("runId");
    }

    /** The first line of {@code process}'s JSON log whose message contains {@code text}. */
    private static com.fasterxml.jackson.databind.JsonNode jsonLogLine(ServiceProcess process, String text) {
        try {
            for (String line : Files.readAllLines(process.log())) {
                if (line.startsWith("{") && line.contains(text)) {
                    return new com.fasterxml.jackson.databind.ObjectMapper().readTree(line);
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return fail("no JSON line of " + process.name() + " says '" + text + "'");
    }

    @Test
    void theBackboneWalk() {
        // five runs on an agent with max-jobs 1: all finish, in enqueue order, one at a time
        List<String> runs = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            runs.add(enqueue("quick"));
        }
        for (String runId : runs) {
            awaitState(runId, "FINISHED");
        }
        Instant previousFinish = Instant.MIN;
        for (String runId : runs) {
            JsonPath run = run(runId);
            assertEquals(List.of("QUEUED", "CLAIMED", "STARTING", "RUNNING", "FINISHED"), run.getList("history.state"));
            assertEquals(0, run.getInt("exitCode"));
            assertEquals("quick", run.getString("resolved.inputs.mode"));
            assertEquals(List.of("sh", "train.sh"), run.getList("resolved.command"));
            Instant started = at(run, "RUNNING");
            assertFalse(started.isBefore(previousFinish), "run " + runId + " started before the previous one ended");
            previousFinish = at(run, "FINISHED");
            // logs travel on their own topic: they reach the read model soon after, not before, the end
            await().atMost(20, TimeUnit.SECONDS).untilAsserted(() -> {
                String log = logs(runId);
                assertTrue(log.contains("run " + runId + " job " + job + ":1 queue " + queue + " attempt 1"), log);
                assertTrue(log.contains("inputs {\"mode\":\"quick\"}"), log);
            });
        }

        // a run stopped while QUEUED never starts; a run stopped while RUNNING ends STOPPED, its process gone
        String sleeper = enqueue("sleep");
        awaitState(sleeper, "RUNNING");
        String waiting = enqueue("quick");
        given().baseUri(stack.status.url()).when().post("/api/v1/runs/" + waiting + "/stop").then().statusCode(202);
        awaitState(waiting, "STOPPED");
        assertEquals("launch-" + sleeper + "-1", run(sleeper).getString("target.handle"));
        long pid = pidOf(sleeper);
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the sleeper runs as " + pid);
        given().baseUri(stack.status.url()).when().post("/api/v1/runs/" + sleeper + "/stop").then().statusCode(202);
        awaitState(sleeper, "STOPPED");
        await().atMost(15, TimeUnit.SECONDS).until(() -> ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true));
        // the agent logs JSON (the prod profile); its line about the stop names the run, queue and agent
        com.fasterxml.jackson.databind.JsonNode stopLine = jsonLogLine(agent, "stopping run " + sleeper);
        assertEquals(sleeper, stopLine.path("mdc").path("runId").asText(), stopLine.toString());
        assertEquals(queue, stopLine.path("mdc").path("queue").asText(), stopLine.toString());
        assertEquals(agentId, stopLine.path("mdc").path("agent").asText(), stopLine.toString());
        assertEquals("agent-service", stopLine.path("service").asText(), stopLine.toString());
        assertEquals("INFO", stopLine.path("level").asText(), stopLine.toString());
        given().baseUri(stack.status.url()).when().post("/api/v1/runs/" + sleeper + "/stop").then().statusCode(409);

        // the stopped queued run was taken off the queue by the agent and never launched
        String after = enqueue("quick");
        awaitState(after, "FINISHED");
        assertEquals(List.of("QUEUED", "STOPPED"), run(waiting).getList("history.state"));
        assertEquals("", logs(waiting));

        // a script that exits 3 fails in stage run with exit code 3
        String failing = enqueue("fail");
        awaitState(failing, "FAILED");
        JsonPath failed = run(failing);
        assertEquals("run", failed.getString("failure.stage"));
        assertEquals(3, failed.getInt("exitCode"));
        await().atMost(10, TimeUnit.SECONDS).until(() -> logs(failing).contains("failing on purpose"));

        // the agent is visible, serving the queue
        given().baseUri(stack.status.url()).when().get("/api/v1/agents").then().statusCode(200)
                .body("items.find { it.queues.contains('" + queue + "') }.state", anyOf(is("POLLING"), is("RUNNING")))
                .body("items.find { it.queues.contains('" + queue + "') }.maxJobs", is(1));
        given().baseUri(stack.queues.url()).when().get("/api/v1/queues/" + queue).then().statusCode(200)
                .body("queued", is(0)).body("running", is(0)).body("agents.agentId", contains(agentId));
    }
}
