package dev.launch.agent;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.event.*;
import dev.launch.common.job.JobSource;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.Git;
import dev.launch.devstack.LogCapture;
import dev.launch.devstack.SharedInfra;
import dev.launch.devstack.TopicReader;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.is;
import static org.junit.jupiter.api.Assertions.*;

@QuarkusTest
@QuarkusTestResource(AgentTestInfra.class)
class LocalProcessAgentTest {
    @jakarta.inject.Inject
    dev.launch.agent.config.AgentIdentity identity;
    private static RunEventsRecorder runs;
    private static RunEventsRecorder logs;
    private static KafkaProducer<String, String> producer;

    @BeforeAll
    static void connect() {
        runs = RunEventsRecorder.runs(SharedInfra.kafkaBootstrap());
        logs = new RunEventsRecorder(SharedInfra.kafkaBootstrap(), Topics.RUN_LOGS);
        producer = new KafkaProducer<>(Map.of("bootstrap.servers", SharedInfra.kafkaBootstrap(), "acks", "all",
                "key.serializer", StringSerializer.class.getName(), "value.serializer", StringSerializer.class.getName()));
    }

    @AfterAll
    static void disconnect() {
        runs.close();
        logs.close();
        producer.close();
    }

    private static Path code(String script) throws Exception {
        Path dir = Files.createTempDirectory("agent-code");
        Files.writeString(dir.resolve("run.sh"), script);
        return dir;
    }

    private static String enqueue(Path code, String... args) throws Exception {
        return enqueue(new JobSource(JobSource.CODE, null, null, null, null, code.toString(), code.toString()), args);
    }

    private static String enqueue(JobSource source, String... args) throws Exception {
        String runId = RunIds.next();
        List<String> command = new ArrayList<>(List.of("sh", "run.sh"));
        command.addAll(List.of(args));
        ObjectNode inputs = JsonNodeFactory.instance.objectNode().put("lr", 0.5);
        RunRequest request = new RunRequest(runId, AgentTestInfra.QUEUE, "job", 3, "sha256:x", source, command, inputs,
                JsonNodeFactory.instance.objectNode().put("type", "local-process"), 1, 1, null, Instant.now(), null);
        producer.send(new ProducerRecord<>(Topics.queue(AgentTestInfra.QUEUE), runId,
                Events.encode(EventEnvelope.of(EventTypes.RUN_REQUESTED, runId, request)))).get(10, TimeUnit.SECONDS);
        return runId;
    }

    private static void stop(String runId) throws Exception {
        producer.send(new ProducerRecord<>(Topics.RUN_COMMANDS, runId, Events.encode(EventEnvelope.of(
                EventTypes.STOP_RUN, runId, new StopRun(runId, AgentTestInfra.QUEUE, "test asked", "test")))))
                .get(10, TimeUnit.SECONDS);
    }

    private static void awaitType(String runId, String type) {
        await().atMost(60, TimeUnit.SECONDS).until(() -> runs.typesOf(runId).contains(type));
    }

    private static String logText(String runId) {
        StringBuilder text = new StringBuilder();
        for (EventEnvelope e : logs.of(runId)) {
            e.payloadAs(RunLogBatch.class).lines().forEach(l -> text.append(l.text()).append('\n'));
        }
        return text.toString();
    }

    @Test
    void runsStartInQueueOrderOneAtATimeWithTheirOwnEnvironment() throws Exception {
        Path code = code("echo \"run=$LAUNCH_RUN_ID job=$LAUNCH_JOB queue=$LAUNCH_QUEUE attempt=$LAUNCH_ATTEMPT\"\n"
                + "echo \"inputs=$LAUNCH_INPUTS\"\necho \"args=$*\" >&2\nsleep 0.3\n");
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            ids.add(enqueue(code, "--n", String.valueOf(i)));
        }
        for (String id : ids) {
            awaitType(id, EventTypes.RUN_FINISHED);
        }
        assertEquals(List.of(EventTypes.RUN_CLAIMED, EventTypes.RUN_STARTING, EventTypes.RUN_RUNNING,
                EventTypes.RUN_FINISHED), runs.typesOf(ids.get(0)));
        // start order is enqueue order, and with max-jobs 1 no run starts before the previous one finished
        List<String> sequence = runs.all().stream().filter(e -> ids.contains(e.subject()))
                .filter(e -> e.type().equals(EventTypes.RUN_RUNNING) || e.type().equals(EventTypes.RUN_FINISHED))
                .map(e -> e.type() + ":" + e.subject()).toList();
        List<String> expected = new ArrayList<>();
        ids.forEach(id -> {
            expected.add(EventTypes.RUN_RUNNING + ":" + id);
            expected.add(EventTypes.RUN_FINISHED + ":" + id);
        });
        assertEquals(expected, sequence);
        for (int i = 0; i < ids.size(); i++) {
            String id = ids.get(i);
            int n = i;
            await().atMost(10, TimeUnit.SECONDS).until(() -> logText(id).contains("args=--n " + n));
            String text = logText(id);
            assertTrue(text.contains("run=" + id + " job=job:3 queue=agent-test attempt=1"), text);
            assertTrue(text.contains("inputs={\"lr\":0.5}"), text);
        }
    }

    @Test
    void aFailingProcessEndsFailedWithStageRunAndItsExitCode() throws Exception {
        String id = enqueue(code("echo about to fail\nexit 3\n"));
        awaitType(id, EventTypes.RUN_FAILED);
        RunLifecycle failed = runs.of(id).stream().filter(e -> e.type().equals(EventTypes.RUN_FAILED)).findFirst()
                .orElseThrow().payloadAs(RunLifecycle.class);
        assertEquals("run", failed.stage());
        assertEquals(3, failed.exitCode());
        assertTrue(failed.reason().contains("3"));
    }

    @Test
    void aRunningRunIsStoppedWithItsWholeProcessTree() throws Exception {
        String id = enqueue(code("echo self=$$\nsleep 60 &\nchild=$!\necho child=$child\nwait $child\n"));
        awaitType(id, EventTypes.RUN_RUNNING);
        await().atMost(20, TimeUnit.SECONDS).until(() -> logText(id).contains("child="));
        assertEquals("launch-" + id + "-1", runs.of(id).stream().filter(e -> e.type().equals(EventTypes.RUN_RUNNING))
                .findFirst().orElseThrow().payloadAs(RunLifecycle.class).targetHandle());
        String log = logText(id);
        long pid = Long.parseLong(log.substring(log.indexOf("self=") + 5).trim().split("\\s")[0]);
        long child = Long.parseLong(log.substring(log.indexOf("child=") + 6).trim().split("\\s")[0]);
        stop(id);
        awaitType(id, EventTypes.RUN_STOPPED);
        assertTrue(runs.typesOf(id).contains(EventTypes.RUN_STOPPING));
        await().atMost(10, TimeUnit.SECONDS).until(() -> ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true)
                && ProcessHandle.of(child).map(p -> !p.isAlive()).orElse(true));
    }

    @Test
    void theAgentsLinesAboutARunNameTheRunItsQueueAndTheAgentInTheirMdc() throws Exception {
        try (LogCapture log = new LogCapture()) {
            String id = enqueue(code("sleep 60\n"));
            awaitType(id, EventTypes.RUN_RUNNING);
            stop(id); // "stopping run ..." is logged on the command reader's thread, which serves every run
            awaitType(id, EventTypes.RUN_STOPPED);
            List<LogCapture.Line> lines = log.mentioning(id);
            assertFalse(lines.isEmpty(), "no line about run " + id);
            for (LogCapture.Line line : lines) {
                assertEquals(new LogCapture.Line(line.message(), id, AgentTestInfra.QUEUE, identity.id()), line,
                        "the MDC of: " + line.message());
            }
        }
    }

    @Test
    void aRunStoppedWhileQueuedIsNeverLaunched() throws Exception {
        Path code = code("sleep 60\n");
        String blocker = enqueue(code);
        awaitType(blocker, EventTypes.RUN_RUNNING);
        String queued = enqueue(code("echo must not run\n"));
        stop(queued);
        stop(blocker);
        awaitType(queued, EventTypes.RUN_STOPPED);
        assertEquals(List.of(EventTypes.RUN_CLAIMED, EventTypes.RUN_STOPPED), runs.typesOf(queued));
        assertFalse(logText(queued).contains("must not run"));
        given().when().get("/api/v1/agent").then().statusCode(200).body("queues[0]", is(AgentTestInfra.QUEUE))
                .body("maxJobs", is(1));
    }

    @Test
    void aGitJobRunsAtItsPinnedCommit() throws Exception {
        Path repo = Git.newRepo("agent-git");
        Files.writeString(repo.resolve("run.sh"), "echo pinned version\n");
        String pinned = Git.commitAll(repo, "one");
        Files.writeString(repo.resolve("run.sh"), "echo newer version\n");
        Git.commitAll(repo, "two");
        String id = enqueue(new JobSource(JobSource.GIT, null, repo.toString(), "main", pinned, null, null));
        awaitType(id, EventTypes.RUN_FINISHED);
        await().atMost(10, TimeUnit.SECONDS).until(() -> logText(id).contains("pinned version"));
        assertFalse(logText(id).contains("newer version"));

        String broken = enqueue(new JobSource(JobSource.GIT, null, repo.toString(), "main", "f".repeat(40), null, null));
        awaitType(broken, EventTypes.RUN_FAILED);
        RunLifecycle failed = runs.of(broken).stream().filter(e -> e.type().equals(EventTypes.RUN_FAILED))
                .findFirst().orElseThrow().payloadAs(RunLifecycle.class);
        assertEquals("build", failed.stage());
        assertTrue(failed.reason().contains("git"), failed.reason());
    }

    @Test
    void aCommandThatCannotStartFailsInStageTarget() throws Exception {
        String runId = RunIds.next();
        Path code = code("true\n");
        RunRequest request = new RunRequest(runId, AgentTestInfra.QUEUE, "job", 1, "sha256:x",
                new JobSource(JobSource.CODE, null, null, null, null, code.toString(), code.toString()),
                List.of("/no/such/interpreter", "run.sh"), JsonNodeFactory.instance.objectNode(),
                JsonNodeFactory.instance.objectNode().put("type", "local-process"), 1, 1, null, Instant.now(), null);
        producer.send(new ProducerRecord<>(Topics.queue(AgentTestInfra.QUEUE), runId,
                Events.encode(EventEnvelope.of(EventTypes.RUN_REQUESTED, runId, request)))).get(10, TimeUnit.SECONDS);
        awaitType(runId, EventTypes.RUN_FAILED);
        RunLifecycle failed = runs.of(runId).stream().filter(e -> e.type().equals(EventTypes.RUN_FAILED))
                .findFirst().orElseThrow().payloadAs(RunLifecycle.class);
        assertEquals("target", failed.stage());
        assertTrue(failed.reason().contains("/no/such/interpreter"), failed.reason());
        assertEquals(List.of(EventTypes.RUN_CLAIMED, EventTypes.RUN_STARTING, EventTypes.RUN_FAILED),
                runs.typesOf(runId));
    }


    @Test
    void anItemThatIsNotARunRequestGoesToTheDeadLetterTopicAndTheQueueMovesOn() throws Exception {
        String key = "not-a-run-" + RunIds.next();
        producer.send(new ProducerRecord<>(Topics.queue(AgentTestInfra.QUEUE), key, "{\"hello\":")).get(10,
                TimeUnit.SECONDS);
        String next = enqueue(code("echo after the bad item\n"));
        awaitType(next, EventTypes.RUN_FINISHED);
        var record = TopicReader.read(SharedInfra.kafkaBootstrap(), Topics.DEAD_LETTER, key, 1).get(0);
        assertEquals("{\"hello\":", record.value());
        assertEquals(Topics.queue(AgentTestInfra.QUEUE), header(record, "dead-letter-topic"));
        assertTrue(header(record, "dead-letter-reason").contains("not a Launch event envelope"),
                header(record, "dead-letter-reason"));
        given().when().get("/q/metrics").then().statusCode(200).body(org.hamcrest.Matchers.containsString(
                "launch_dead_letters_total{topic=\"launch.queue." + AgentTestInfra.QUEUE + "\"} 1.0"));
    }

    private static String header(org.apache.kafka.clients.consumer.ConsumerRecord<String, String> record, String name) {
        return new String(record.headers().lastHeader(name).value(), java.nio.charset.StandardCharsets.UTF_8);
    }

    @Test
    void aRunThatDoesNotStartWithinTheQueuesStartTimeoutFailsInStageTarget() throws Exception {
        // the code snapshot holds a named pipe: copying it into the workspace blocks until someone writes to it
        Path snapshot = Files.createTempDirectory("stuck");
        Path pipe = snapshot.resolve("pipe");
        assertEquals(0, new ProcessBuilder("mkfifo", pipe.toString()).start().waitFor());
        String runId = RunIds.next();
        RunRequest request = new RunRequest(runId, AgentTestInfra.QUEUE, "job", 1, "sha256:x",
                new JobSource(JobSource.CODE, null, null, null, null, snapshot.toString(), snapshot.toString()),
                List.of("sh", "-c", "echo should never run"), JsonNodeFactory.instance.objectNode(),
                JsonNodeFactory.instance.objectNode().put("type", "local-process"), 1, 1, null, Instant.now(), null,
                "PT1S");
        producer.send(new ProducerRecord<>(Topics.queue(AgentTestInfra.QUEUE), runId,
                Events.encode(EventEnvelope.of(EventTypes.RUN_REQUESTED, runId, request)))).get(10, TimeUnit.SECONDS);
        awaitType(runId, EventTypes.RUN_FAILED);
        RunLifecycle failed = runs.of(runId).stream().filter(e -> e.type().equals(EventTypes.RUN_FAILED)).findFirst()
                .orElseThrow().payloadAs(RunLifecycle.class);
        assertEquals("target", failed.stage());
        assertTrue(failed.reason().contains("did not start within PT1S"), failed.reason());
        // unblock the copy: the runner finds the run stopped and never starts it; its late report is dropped
        try (var writer = Files.newOutputStream(pipe)) {
            writer.write('x');
        }
        String next = enqueue(code("echo next\n"));
        awaitType(next, EventTypes.RUN_FINISHED);
        assertEquals(List.of(EventTypes.RUN_CLAIMED, EventTypes.RUN_STARTING, EventTypes.RUN_FAILED),
                runs.typesOf(runId));
    }

    @Test
    void theAgentHeartbeats() {
        try (RunEventsRecorder agents = new RunEventsRecorder(SharedInfra.kafkaBootstrap(), Topics.AGENTS)) {
            await().atMost(20, TimeUnit.SECONDS).until(() -> agents.all().stream()
                    .anyMatch(e -> e.type().equals(EventTypes.AGENT_HEARTBEAT)));
            AgentStatus status = agents.all().get(0).payloadAs(AgentStatus.class);
            assertEquals(List.of(AgentTestInfra.QUEUE, AgentTestInfra.PRIORITY_QUEUE, AgentTestInfra.CONTAINER_QUEUE,
                    AgentTestInfra.KUBERNETES_QUEUE, AgentTestInfra.SAGEMAKER_QUEUE), status.queues());
        }
    }

    /**
     * A run another agent's queue holder handed to this agent (ADR 0005) is launched here once, even when the
     * hand-off is read twice; one addressed to an earlier incarnation of this agent is not launched; the agent's
     * status lists the hand-off it read and states its free slots.
     */
    @Test
    void aRunHandedOverToThisAgentIsLaunchedHereOnceAndOnlyForItsOwnIncarnation() throws Exception {
        AgentStatus self;
        try (RunEventsRecorder agents = new RunEventsRecorder(SharedInfra.kafkaBootstrap(), Topics.AGENTS)) {
            // this app's agent (other test apps of this JVM may have left their statuses on the topic)
            java.util.function.Supplier<List<AgentStatus>> ours = () -> agents.all().stream()
                    .filter(e -> !EventTypes.AGENT_STOPPED.equals(e.type()))
                    .map(e -> e.payloadAs(AgentStatus.class))
                    .filter(st -> identity.id().equals(st.agentId())
                            && identity.startedAt().toEpochMilli() == st.startedAt().toEpochMilli()).toList();
            await().atMost(20, TimeUnit.SECONDS).until(() -> !ours.get().isEmpty());
            self = ours.get().get(ours.get().size() - 1);
        }
        assertNotNull(self.freeSlots(), "the status states the free slots");
        Path code = code("echo handed over\n");
        JobSource source = new JobSource(JobSource.CODE, null, null, null, null, code.toString(), code.toString());
        String stale = RunIds.next();
        String handed = RunIds.next();
        handOff(stale, source, self.agentId(), self.startedAt().minusSeconds(3600));
        handOff(handed, source, self.agentId(), self.startedAt());
        handOff(handed, source, self.agentId(), self.startedAt()); // the holder's retry after a lost ack
        awaitType(handed, EventTypes.RUN_FINISHED);
        assertEquals(List.of(EventTypes.RUN_STARTING, EventTypes.RUN_RUNNING, EventTypes.RUN_FINISHED),
                runs.typesOf(handed), "launched once, by this agent (the holder wrote the claim)");
        assertTrue(logText(handed).contains("handed over"));
        try (RunEventsRecorder agents = new RunEventsRecorder(SharedInfra.kafkaBootstrap(), Topics.AGENTS)) {
            await().atMost(20, TimeUnit.SECONDS).until(() -> agents.all().stream()
                    .map(e -> e.payloadAs(AgentStatus.class))
                    .anyMatch(st -> st.handoffsRead() != null && st.handoffsRead().contains(handed)));
            assertTrue(agents.all().stream().map(e -> e.payloadAs(AgentStatus.class))
                    .noneMatch(st -> st.handoffsRead() != null && st.handoffsRead().contains(stale)));
        }
        assertEquals(List.of(), runs.typesOf(stale), "a hand-off to an earlier incarnation is not launched");
    }

    private static void handOff(String runId, JobSource source, String agent, Instant incarnation) throws Exception {
        RunRequest request = new RunRequest(runId, AgentTestInfra.QUEUE, "job", 3, "sha256:x", source,
                List.of("sh", "run.sh"), JsonNodeFactory.instance.objectNode(),
                JsonNodeFactory.instance.objectNode().put("type", "local-process"), 1, 1, null, Instant.now(), null);
        producer.send(new ProducerRecord<>(Topics.RUN_COMMANDS, runId, Events.encode(EventEnvelope.of(
                EventTypes.RUN_TAKEN, runId, RunTaken.handOff(request, agent, incarnation, "holder-elsewhere")))))
                .get(10, TimeUnit.SECONDS);
    }
}
