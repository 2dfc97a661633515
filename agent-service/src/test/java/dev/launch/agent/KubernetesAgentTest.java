package dev.launch.agent;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunLogBatch;
import dev.launch.common.event.RunRequest;
import dev.launch.common.event.Topics;
import dev.launch.common.job.JobSource;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.KubernetesTestCluster;
import dev.launch.devstack.SharedInfra;
import io.fabric8.kubernetes.api.model.Pod;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A kubernetes queue's runs through the whole agent (Kafka in and out) against fabric8's mock API server: the
 * scheduler's message while a run waits, the run's facts and output, and a start timeout that quotes the reason.
 * The mappings themselves are in {@code KubernetesTargetTest}.
 */
@QuarkusTest
@TestProfile(ContainerAgentTest.ManySlots.class)
@QuarkusTestResource(AgentTestInfra.class)
class KubernetesAgentTest {
    private static RunEventsRecorder runs;
    private static RunEventsRecorder logs;
    private static KafkaProducer<String, String> producer;
    private static final KubernetesTestCluster cluster = AgentTestInfra.cluster();

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

    private static String enqueue(String startTimeout) throws Exception {
        ObjectNode target = Events.MAPPER.createObjectNode().put("type", "kubernetes").put("namespace", "ml");
        target.set("config", Events.MAPPER.readTree("{\"spec\": {\"template\": {\"spec\": {\"containers\": "
                + "[{\"name\": \"train\", \"resources\": {\"limits\": {\"nvidia.com/gpu\": 1}}}]}}}}"));
        RunRequest request = new RunRequest(RunIds.next(), AgentTestInfra.KUBERNETES_QUEUE, "train", 1, "sha256:x",
                new JobSource(JobSource.IMAGE, "trainer:1", null, null, null, null, null), List.of("python", "train.py"),
                Events.MAPPER.createObjectNode(), target, 1, 1, null, Instant.now(), null, startTimeout);
        producer.send(new ProducerRecord<>(Topics.queue(AgentTestInfra.KUBERNETES_QUEUE), request.runId(),
                Events.encode(EventEnvelope.of(EventTypes.RUN_REQUESTED, request.runId(), request)))).get(10, TimeUnit.SECONDS);
        return request.runId();
    }

    private static RunLifecycle awaitFact(String runId, String type) {
        await().atMost(60, TimeUnit.SECONDS).until(() -> runs.typesOf(runId).contains(type));
        return runs.of(runId).stream().filter(e -> e.type().equals(type)).reduce((a, b) -> b).orElseThrow()
                .payloadAs(RunLifecycle.class);
    }

    private static Pod pod(String runId) {
        await().atMost(30, TimeUnit.SECONDS).until(() -> cluster.pods(runId).size() == 1);
        return cluster.pods(runId).get(0);
    }

    @Test
    void aRunWaitsWithTheSchedulersMessageThenRunsAndItsOutputIsShipped() throws Exception {
        String runId = enqueue(null);
        Pod pod = pod(runId);
        assertEquals("launch-" + runId + "-1", awaitFact(runId, EventTypes.RUN_STARTING).targetHandle());
        cluster.unschedulable(pod, "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.");
        await().atMost(30, TimeUnit.SECONDS).until(() -> runs.of(runId).stream()
                .filter(e -> e.type().equals(EventTypes.RUN_PROGRESSED))
                .anyMatch(e -> e.payloadAs(RunLifecycle.class).reason().contains("4 Insufficient nvidia.com/gpu")));
        cluster.running(pod);
        awaitFact(runId, EventTypes.RUN_RUNNING);
        cluster.log(pod, "step 1 loss 0.9");
        cluster.log(pod, "step 2 loss 0.4");
        cluster.terminated(pod, 0, "Completed");
        RunLifecycle finished = awaitFact(runId, EventTypes.RUN_FINISHED);
        assertEquals(0, finished.exitCode());
        List<String> lines = new ArrayList<>();
        logs.of(runId).forEach(e -> e.payloadAs(RunLogBatch.class).lines().forEach(l -> lines.add(l.text())));
        assertEquals(List.of("step 1 loss 0.9", "step 2 loss 0.4"), lines);
        await().atMost(30, TimeUnit.SECONDS).until(() -> cluster.jobs(runId).isEmpty());
    }

    @Test
    void aRunThatCannotBeScheduledWithinTheStartTimeoutFailsQuotingTheScheduler() throws Exception {
        String runId = enqueue("PT3S");
        Pod pod = pod(runId);
        cluster.unschedulable(pod, "0/4 nodes are available: 4 node(s) had untolerated taint {gpu: a100}.");
        RunLifecycle failed = awaitFact(runId, EventTypes.RUN_FAILED);
        assertEquals("target", failed.stage());
        assertTrue(failed.reason().contains("did not start within PT3S"), failed.reason());
        assertTrue(failed.reason().contains("untolerated taint {gpu: a100}"), failed.reason());
        await().atMost(30, TimeUnit.SECONDS).until(() -> cluster.jobs(runId).isEmpty() && cluster.pods(runId).isEmpty());
    }
}
