package dev.launch.common;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.event.*;
import dev.launch.common.job.JobInputs;
import dev.launch.common.job.JobSource;
import dev.launch.common.job.JobVersion;
import dev.launch.common.naming.RunIds;
import dev.launch.common.problem.Problem;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class EventContractTest {
    private static final String RUN = RunIds.next();

    private static ObjectNode obj(String json) throws Exception {
        return (ObjectNode) Events.MAPPER.readTree(json);
    }

    private static Map<String, Object> samples() throws Exception {
        JobVersion job = new JobVersion("train", 1, "sha256:" + "a".repeat(64), null,
                new JobSource("code", null, null, null, null, "/tmp/x", "/store/a"), List.of("python", "t.py"),
                new JobInputs(obj("{\"type\":\"object\"}"), obj("{\"lr\":0.1}")), Instant.now());
        RunLifecycle base = RunLifecycle.of(RUN, "local");
        RunLifecycle held = base.withAgent("agent-1", 1);
        AgentStatus agent = new AgentStatus("agent-1", List.of("local"), 2, List.of(RUN), "h", 42, 5000, Instant.now(),
                1, List.of(RUN));
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put(EventTypes.JOB_VERSION_CREATED, new JobVersionCreated(job));
        QueueChanged q = new QueueChanged("local", obj("{\"type\":\"local-process\"}"), null, null, false, false, 1,
                null, Instant.now());
        m.put(EventTypes.QUEUE_CREATED, q);
        m.put(EventTypes.QUEUE_UPDATED, q);
        m.put(EventTypes.QUEUE_DELETED, q);
        RunRequest request = new RunRequest(RUN, "local", "train", 1, job.digest(), job.source(),
                List.of("python", "t.py"), obj("{}"), obj("{\"type\":\"local-process\"}"), 1, 1, null, Instant.now(), null);
        m.put(EventTypes.RUN_REQUESTED, request);
        m.put(EventTypes.RUN_QUEUED, RunLifecycle.queued(request, 7L));
        m.put(EventTypes.RUN_CLAIMED, held);
        m.put(EventTypes.RUN_STARTING, held.withTarget("local-process", null));
        m.put(EventTypes.RUN_RUNNING, held.withTarget("local-process", "pid:42"));
        m.put(EventTypes.RUN_FINISHED, held.withExit(0));
        m.put(EventTypes.RUN_FAILED, held.withExit(3).withFailure("run", "exit code 3"));
        m.put(EventTypes.RUN_STOP_REQUESTED, base.withReason("stopped by user"));
        m.put(EventTypes.RUN_STOPPING, held);
        m.put(EventTypes.RUN_STOPPED, held.withReason("stopped by user"));
        m.put(EventTypes.RUN_PREEMPTED, held.withReason("evicted"));
        m.put(EventTypes.RUN_REQUEUED, base.withAgent(null, 2));
        m.put(EventTypes.STOP_RUN, new StopRun(RUN, "local", "stopped by user", "api"));
        m.put(EventTypes.MOVE_RUN, new MoveRun(RUN, "local", RUN, RunIds.next(), "high", "api"));
        m.put(EventTypes.RUN_TAKEN, RunTaken.handOff(request, "agent-2", Instant.now(), "agent-1"));
        m.put(EventTypes.RUN_LAUNCHING, new RunTaken(RUN, "local", RUN, "agent-1", "launch-" + RUN + "-1", true));
        m.put(EventTypes.RUN_PROGRESSED, held.withTarget("local-container", "launch-" + RUN + "-1")
                .withReason("pulling image"));
        m.put(EventTypes.RUN_ADOPTED, held.withTarget("local-container", "launch-" + RUN + "-1").withItem(RUN)
                .withReason("adopted by agent-2"));
        m.put(EventTypes.ADOPT_RUN, new AdoptRun(RUN, "local", RUN, 1, "local-container", "launch-" + RUN + "-1",
                "agent-1", "agent agent-1 was lost", 41L, request));
        m.put(EventTypes.RUN_REPRIORITIZED, RunLifecycle.reprioritized(request.movedTo("high", RunIds.next()), 3L,
                "priority medium -> high"));
        m.put(EventTypes.RUN_OUTPUT_LOGGED, new RunLogBatch(RUN, 1, "agent-1", 0,
                List.of(new RunLogBatch.Line("stdout", Instant.now(), "hello", 0L))));
        m.put(EventTypes.AGENT_STARTED, agent);
        m.put(EventTypes.AGENT_HEARTBEAT, agent);
        m.put(EventTypes.AGENT_STOPPED, agent);
        return m;
    }

    @Test
    void everyEventTypeHasASchemaAndTheSampleSatisfiesIt() throws Exception {
        Map<String, Object> samples = samples();
        List<String> types = new ArrayList<>(EventTypes.PAYLOADS.keySet());
        types.add(EventTypes.RUN_REQUESTED);
        for (String type : types) {
            assertTrue(samples.containsKey(type), "no sample for " + type);
            EventEnvelope envelope = EventEnvelope.of(type, "subject", samples.get(type));
            EventEnvelope decoded = Events.decode(Events.encode(envelope));
            assertEquals(Events.encode(envelope), Events.encode(decoded));
            assertEquals(List.of(), EventSchemas.validate(decoded), type);
        }
    }

    @Test
    void schemasRefuseAFailureWithoutStage() throws Exception {
        RunLifecycle failed = RunLifecycle.of(RUN, "local").withAgent("a", 1).withFailure(null, "boom");
        List<Problem.FieldError> errors = EventSchemas.validate(EventEnvelope.of(EventTypes.RUN_FAILED, RUN, failed));
        assertFalse(errors.isEmpty());
        assertTrue(errors.stream().anyMatch(e -> e.field().equals("payload.stage")), errors.toString());
    }

    @Test
    void undecodableRecordsAreRefusedWithAReason() {
        assertThrows(Events.UndecodableEventException.class, () -> Events.decode("not json"));
        assertThrows(Events.UndecodableEventException.class, () -> Events.decode("{\"type\":\"RunClaimed\"}"));
        Events.UndecodableEventException e = assertThrows(Events.UndecodableEventException.class,
                () -> Events.decode("{\"eventId\":\"" + java.util.UUID.randomUUID()
                        + "\",\"type\":\"Nope\",\"payload\":{}}"));
        assertTrue(e.getMessage().contains("Nope"));
    }

    @Test
    void runIdsAreTimeOrderedUuids() throws Exception {
        String a = RunIds.next();
        Thread.onSpinWait();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            ids.add(RunIds.next());
        }
        assertTrue(RunIds.isValid(a));
        assertFalse(RunIds.isValid("not-a-run"));
        assertEquals('7', a.charAt(14), "version nibble");
        String first = ids.get(0).substring(0, 13);
        assertTrue(ids.get(49).substring(0, 13).compareTo(first) >= 0);
    }
}
