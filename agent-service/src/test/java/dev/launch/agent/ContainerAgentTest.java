package dev.launch.agent;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.event.*;
import dev.launch.common.job.JobSource;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.Podman;
import dev.launch.devstack.SharedInfra;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The local-container target on a real engine (podman, runc, a busybox image made here): output, exit codes,
 * memory kills, missing images, stops, refused options, code jobs, many containers on few threads, and taking
 * over containers another agent started.
 */
@QuarkusTest
@TestProfile(ContainerAgentTest.ManySlots.class)
@QuarkusTestResource(AgentTestInfra.class)
class ContainerAgentTest {

    /** Enough slots for thirty containers at once, and a known id. */
    public static class ManySlots implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("launch.agent.max-jobs", "32", "launch.agent.id", "container-test-agent");
        }
    }

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

    @BeforeEach
    void engine() {
        Podman.require();
    }

    private static ObjectNode target(String configJson) throws Exception {
        ObjectNode target = JsonNodeFactory.instance.objectNode().put("type", "local-container");
        if (configJson != null) {
            target.set("config", Events.MAPPER.readTree(configJson));
        }
        return target;
    }

    private static RunRequest request(String runId, JobSource source, ObjectNode target, String... command) {
        return new RunRequest(runId, AgentTestInfra.CONTAINER_QUEUE, "job", 2, "sha256:x", source, List.of(command),
                JsonNodeFactory.instance.objectNode().put("lr", 0.5), target, 1, 1, null, Instant.now(), null);
    }

    private static JobSource image(String image) {
        return new JobSource(JobSource.IMAGE, image, null, null, null, null, null);
    }

    private static String enqueue(RunRequest request) throws Exception {
        producer.send(new ProducerRecord<>(Topics.queue(AgentTestInfra.CONTAINER_QUEUE), request.runId(),
                Events.encode(EventEnvelope.of(EventTypes.RUN_REQUESTED, request.runId(), request)))).get(10, TimeUnit.SECONDS);
        return request.runId();
    }

    private static String enqueue(String config, String... command) throws Exception {
        return enqueue(request(RunIds.next(), image(Podman.IMAGE), target(config), command));
    }

    private static void command(String runId, String type, Object payload) throws Exception {
        producer.send(new ProducerRecord<>(Topics.RUN_COMMANDS, runId, Events.encode(EventEnvelope.of(type, runId,
                payload)))).get(10, TimeUnit.SECONDS);
    }

    private static RunLifecycle awaitFact(String runId, String type) {
        await().atMost(60, TimeUnit.SECONDS).until(() -> runs.typesOf(runId).contains(type));
        return runs.of(runId).stream().filter(e -> e.type().equals(type)).findFirst().orElseThrow()
                .payloadAs(RunLifecycle.class);
    }

    private static List<RunLogBatch.Line> lines(String runId) {
        List<RunLogBatch.Line> out = new ArrayList<>();
        logs.of(runId).forEach(e -> out.addAll(e.payloadAs(RunLogBatch.class).lines()));
        return out;
    }

    private static String logText(String runId) {
        StringBuilder text = new StringBuilder();
        lines(runId).forEach(l -> text.append(l.text()).append('\n'));
        return text.toString();
    }

    private static String handle(String runId) {
        return "launch-" + runId + "-1";
    }

    private static void awaitRemoved(String runId) {
        await().atMost(30, TimeUnit.SECONDS).until(() -> Podman.containersLabelled("launch.run-id", runId).isEmpty());
    }

    @Test
    void aContainerRunsWithTheRunsEnvironmentItsOutputIsShippedAndItIsRemovedAfterItsEnd() throws Exception {
        String id = enqueue("{\"env\": [\"FROM_QUEUE=yes\"], \"rm\": true}", "sh", "-c",
                "echo run=$LAUNCH_RUN_ID job=$LAUNCH_JOB queue=$LAUNCH_QUEUE attempt=$LAUNCH_ATTEMPT; "
                        + "echo inputs=$LAUNCH_INPUTS; echo from-queue=$FROM_QUEUE; echo to-stderr >&2");
        RunLifecycle finished = awaitFact(id, EventTypes.RUN_FINISHED);
        assertEquals(0, finished.exitCode());
        assertEquals(handle(id), finished.targetHandle());
        assertEquals(List.of(EventTypes.RUN_CLAIMED, EventTypes.RUN_STARTING, EventTypes.RUN_RUNNING,
                EventTypes.RUN_FINISHED), runs.typesOf(id));
        await().atMost(10, TimeUnit.SECONDS).until(() -> lines(id).size() >= 4);
        String text = logText(id);
        assertTrue(text.contains("run=" + id + " job=job:2 queue=" + AgentTestInfra.CONTAINER_QUEUE + " attempt=1"), text);
        assertTrue(text.contains("inputs={\"lr\":0.5}"), text);
        assertTrue(text.contains("from-queue=yes"), text);
        assertTrue(text.contains("to-stderr"), text);
        assertEquals(List.of(0L, 1L, 2L, 3L), lines(id).stream().map(RunLogBatch.Line::position).toList());
        awaitRemoved(id);
    }

    @Test
    void aNonZeroExitIsFailedInStageRunWithTheExitCode() throws Exception {
        String id = enqueue(null, "sh", "-c", "echo about to fail; exit 3");
        RunLifecycle failed = awaitFact(id, EventTypes.RUN_FAILED);
        assertEquals("run", failed.stage());
        assertEquals(3, failed.exitCode());
        assertTrue(failed.reason().contains("exited with code 3"), failed.reason());
        await().atMost(10, TimeUnit.SECONDS).until(() -> logText(id).contains("about to fail"));
    }

    @Test
    void aContainerKilledUnderItsMemoryLimitIsReportedAsLikelyOutOfMemory() throws Exception {
        String id = enqueue("{\"memory\": \"16m\", \"memory-swap\": \"16m\"}", "sh", "-c",
                "x=$(yes | head -c 100000000); echo ${#x}");
        RunLifecycle failed = awaitFact(id, EventTypes.RUN_FAILED);
        assertEquals("run", failed.stage(), failed.reason());
        assertEquals(137, failed.exitCode());
        assertTrue(failed.reason().contains("likely out of memory"), failed.reason());
    }

    @Test
    void anImageThatIsNotOnTheMachineFailsInStageTarget() throws Exception {
        String id = enqueue(request(RunIds.next(), image("localhost/launch-no-such-image:9"), target(null), "true"));
        RunLifecycle failed = awaitFact(id, EventTypes.RUN_FAILED);
        assertEquals("target", failed.stage());
        assertTrue(failed.reason().contains("localhost/launch-no-such-image:9 is not on this machine"), failed.reason());
        assertTrue(Podman.containersLabelled("launch.run-id", id).isEmpty());
    }

    @Test
    void aStoppedContainerEndsStoppedAndIsRemoved() throws Exception {
        String id = enqueue(null, "sh", "-c", "echo started; while true; do sleep 1; done");
        awaitFact(id, EventTypes.RUN_RUNNING);
        await().atMost(20, TimeUnit.SECONDS).until(() -> logText(id).contains("started"));
        command(id, EventTypes.STOP_RUN, new StopRun(id, AgentTestInfra.CONTAINER_QUEUE, "test asked", "test"));
        RunLifecycle stopped = awaitFact(id, EventTypes.RUN_STOPPED);
        assertTrue(runs.typesOf(id).contains(EventTypes.RUN_STOPPING));
        assertEquals(137, stopped.exitCode(), "PID 1 sh ignores SIGTERM: killed after the stop grace");
        awaitRemoved(id);
    }

    @Test
    void optionsRefusedAfterSubstitutionAreNeverPassedToTheEngine() throws Exception {
        String id = enqueue("{\"network\": \"host\", \"privileged\": true}", "sh", "-c", "echo must not run");
        RunLifecycle failed = awaitFact(id, EventTypes.RUN_FAILED);
        assertEquals("target", failed.stage());
        assertTrue(failed.reason().contains("config.network") && failed.reason().contains("config.privileged"),
                failed.reason());
        assertTrue(Podman.containersLabelled("launch.run-id", id).isEmpty());
    }

    @Test
    void aCodeJobRunsInTheBaseImageWithAWritableCopyOfItsCode() throws Exception {
        Path code = Files.createTempDirectory("container-code");
        Files.writeString(code.resolve("train.sh"), "echo epoch 1 > progress.txt\ncat progress.txt\npwd\n");
        String id = enqueue(request(RunIds.next(), new JobSource(JobSource.CODE, null, null, null, null,
                code.toString(), code.toString()), target(null), "sh", "train.sh"));
        awaitFact(id, EventTypes.RUN_FINISHED);
        await().atMost(10, TimeUnit.SECONDS).until(() -> logText(id).contains("/workspace"));
        assertTrue(logText(id).contains("epoch 1"), logText(id));
        assertFalse(Files.exists(code.resolve("progress.txt")), "the job's own snapshot is never written");
    }

    @Test
    void thirtySleepingContainersAreWatchedByABoundedNumberOfThreads() throws Exception {
        int before = Thread.activeCount();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            ids.add(enqueue(null, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"));
        }
        for (String id : ids) {
            awaitFact(id, EventTypes.RUN_RUNNING);
        }
        int during = Thread.activeCount();
        System.out.printf("30 running containers: %d threads before, %d while they run%n", before, during);
        assertTrue(during - before <= 16, "threads went from " + before + " to " + during + " for 30 containers");
        for (String id : ids) {
            command(id, EventTypes.STOP_RUN, new StopRun(id, AgentTestInfra.CONTAINER_QUEUE, "enough", "test"));
        }
        for (String id : ids) {
            assertEquals(0, awaitFact(id, EventTypes.RUN_STOPPED).exitCode());
        }
        assertTrue(Podman.containersLabelled("launch.installation", AgentTestInfra.INSTALLATION).stream()
                .noneMatch(name -> ids.stream().anyMatch(id -> name.equals(handle(id)))));
    }

    /** Records what an agent that is gone had written about a run: its take and its launch of adoptable work. */
    private static void ghostLaunched(String runId, String ghost) throws Exception {
        command(runId, EventTypes.RUN_TAKEN, new RunTaken(runId, AgentTestInfra.CONTAINER_QUEUE, runId, ghost));
        command(runId, EventTypes.RUN_LAUNCHING, new RunTaken(runId, AgentTestInfra.CONTAINER_QUEUE, runId, ghost,
                handle(runId), true));
    }

    @Test
    void aContainerWhoseOwnerIsGoneIsAdoptedWatchedToItsEndAndItsOutputReadOnFromTheStoredPosition() throws Exception {
        String id = RunIds.next();
        RunRequest request = request(id, image(Podman.IMAGE), target(null), "sh", "-c", "unused");
        Podman.run("run", "-d", "--name", handle(id), "--label", "launch.run-id=" + id, "--label",
                "launch.queue=" + AgentTestInfra.CONTAINER_QUEUE, "--label", "launch.attempt=1", "--label",
                "launch.installation=" + AgentTestInfra.INSTALLATION, Podman.IMAGE, "sh", "-c",
                "echo line-0; echo line-1; echo line-2; sleep 2; echo line-3; exit 0");
        ghostLaunched(id, "ghost-agent");
        // the ghost's first two lines are stored already (logPosition 1): the adopter ships from line-2 on
        command(id, EventTypes.ADOPT_RUN, new AdoptRun(id, AgentTestInfra.CONTAINER_QUEUE, id, 1, "local-container",
                handle(id), "ghost-agent", "agent ghost-agent was lost", 1L, request));
        RunLifecycle adopted = awaitFact(id, EventTypes.RUN_ADOPTED);
        assertEquals("container-test-agent", adopted.agentId());
        assertEquals(handle(id), adopted.targetHandle());
        RunLifecycle finished = awaitFact(id, EventTypes.RUN_FINISHED);
        assertEquals("container-test-agent", finished.agentId());
        await().atMost(10, TimeUnit.SECONDS).until(() -> logText(id).contains("line-3"));
        assertEquals(List.of("line-2", "line-3"), lines(id).stream().map(RunLogBatch.Line::text).toList());
        assertEquals(List.of(2L, 3L), lines(id).stream().map(RunLogBatch.Line::position).toList());
        awaitRemoved(id);
    }

    @Test
    void adoptingWorkThatVanishedFromTheEngineFailsItInStageTarget() throws Exception {
        String id = RunIds.next();
        ghostLaunched(id, "ghost-agent-2");
        command(id, EventTypes.ADOPT_RUN, new AdoptRun(id, AgentTestInfra.CONTAINER_QUEUE, id, 1, "local-container",
                handle(id), "ghost-agent-2", "agent ghost-agent-2 was lost", null,
                request(id, image(Podman.IMAGE), target(null), "true")));
        RunLifecycle failed = awaitFact(id, EventTypes.RUN_FAILED);
        assertEquals("target", failed.stage());
        assertTrue(failed.reason().contains("vanished"), failed.reason());
    }

    @Test
    void anItemTakenAgainWhoseContainerExistsIsWatchedNotSubmittedAgain() throws Exception {
        String id = RunIds.next();
        Podman.run("create", "--name", handle(id), "--label", "launch.run-id=" + id, "--label",
                "launch.installation=" + AgentTestInfra.INSTALLATION, Podman.IMAGE, "sh", "-c", "echo the original");
        enqueue(request(id, image(Podman.IMAGE), target(null), "sh", "-c", "echo a second copy"));
        awaitFact(id, EventTypes.RUN_FINISHED);
        await().atMost(10, TimeUnit.SECONDS).until(() -> logText(id).contains("the original"));
        assertFalse(logText(id).contains("a second copy"));
    }

    @Test
    void aRunStoppedWhileItsCodeIsPreparedIsNeverStarted() throws Exception {
        // a named pipe in the code snapshot: copying it into the workspace waits until someone writes to it
        Path snapshot = Files.createTempDirectory("container-stuck");
        Path pipe = snapshot.resolve("pipe");
        assertEquals(0, new ProcessBuilder("mkfifo", pipe.toString()).start().waitFor());
        String id = enqueue(request(RunIds.next(), new JobSource(JobSource.CODE, null, null, null, null,
                snapshot.toString(), snapshot.toString()), target(null), "sh", "-c", "echo must not run"));
        awaitFact(id, EventTypes.RUN_STARTING);
        command(id, EventTypes.STOP_RUN, new StopRun(id, AgentTestInfra.CONTAINER_QUEUE, "changed my mind", "test"));
        awaitFact(id, EventTypes.RUN_STOPPING);
        try (var writer = Files.newOutputStream(pipe)) {
            writer.write('x');
        }
        awaitFact(id, EventTypes.RUN_STOPPED);
        assertFalse(runs.typesOf(id).contains(EventTypes.RUN_RUNNING));
        assertTrue(Podman.containersLabelled("launch.run-id", id).isEmpty());
        assertFalse(logText(id).contains("must not run"));
    }
}
