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
import dev.launch.devstack.SageMakerStub;
import dev.launch.devstack.SharedInfra;
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
 * A sagemaker queue's runs through the whole agent (Kafka in and out, the target made by CDI from the agent's
 * configuration, credentials and region from the AWS SDK's default chains) against the SageMaker stub: SageMaker's
 * status message while a run starts, the run's facts and output, and a capacity limit that outlasts the start
 * timeout. The mappings themselves are in {@code SageMakerTargetTest}.
 */
@QuarkusTest
@TestProfile(ContainerAgentTest.ManySlots.class)
@QuarkusTestResource(AgentTestInfra.class)
class SageMakerAgentTest {
    private static RunEventsRecorder runs;
    private static RunEventsRecorder logs;
    private static KafkaProducer<String, String> producer;
    private static final SageMakerStub stub = AgentTestInfra.sageMaker();

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
        ObjectNode target = Events.MAPPER.createObjectNode().put("type", "sagemaker")
                .put("roleArn", "arn:aws:iam::123456789012:role/launch");
        target.set("config", Events.MAPPER.readTree("""
                {"ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
                 "OutputDataConfig": {"S3OutputPath": "s3://models/${queue}/${run_id}"},
                 "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}"""));
        RunRequest request = new RunRequest(RunIds.next(), AgentTestInfra.SAGEMAKER_QUEUE, "train", 1, "sha256:x",
                new JobSource(JobSource.IMAGE, "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:1", null, null,
                        null, null, null), List.of("python", "train.py"), Events.MAPPER.createObjectNode(), target, 1,
                1, null, Instant.now(), null, startTimeout);
        producer.send(new ProducerRecord<>(Topics.queue(AgentTestInfra.SAGEMAKER_QUEUE), request.runId(),
                Events.encode(EventEnvelope.of(EventTypes.RUN_REQUESTED, request.runId(), request)))).get(10, TimeUnit.SECONDS);
        return request.runId();
    }

    private static RunLifecycle awaitFact(String runId, String type) {
        await().atMost(60, TimeUnit.SECONDS).until(() -> runs.typesOf(runId).contains(type));
        return runs.of(runId).stream().filter(e -> e.type().equals(type)).reduce((a, b) -> b).orElseThrow()
                .payloadAs(RunLifecycle.class);
    }

    private static SageMakerStub.TrainingJob job(String runId) {
        await().atMost(30, TimeUnit.SECONDS).until(() -> stub.job("launch-" + runId + "-1") != null);
        return stub.job("launch-" + runId + "-1");
    }

    @Test
    void aRunStartsWithSageMakersMessageThenTrainsAndItsOutputIsShipped() throws Exception {
        String runId = enqueue(null);
        SageMakerStub.TrainingJob job = job(runId);
        assertEquals("s3://models/" + AgentTestInfra.SAGEMAKER_QUEUE + "/" + runId,
                job.request.at("/OutputDataConfig/S3OutputPath").asText(), "macros are filled in");
        assertEquals(AgentTestInfra.INSTALLATION, job.tags().get("launch.installation"));
        assertEquals(job.name, awaitFact(runId, EventTypes.RUN_STARTING).targetHandle());
        stub.advance(job.name, "InProgress", "LaunchingMLInstances", "Launching requested ML instances");
        await().atMost(30, TimeUnit.SECONDS).until(() -> runs.of(runId).stream()
                .filter(e -> e.type().equals(EventTypes.RUN_PROGRESSED))
                .anyMatch(e -> e.payloadAs(RunLifecycle.class).reason().contains("LaunchingMLInstances")));
        stub.training(job.name);
        awaitFact(runId, EventTypes.RUN_RUNNING);
        stub.log(job.name, "algo-1-1700000000", "epoch 1 loss 0.9", "epoch 2 loss 0.4");
        stub.complete(job.name);
        RunLifecycle finished = awaitFact(runId, EventTypes.RUN_FINISHED);
        assertEquals(0, finished.exitCode());
        List<String> lines = new ArrayList<>();
        logs.of(runId).forEach(e -> e.payloadAs(RunLogBatch.class).lines().forEach(l -> lines.add(l.text())));
        assertEquals(List.of("epoch 1 loss 0.9", "epoch 2 loss 0.4"), lines);
        assertEquals(1, stub.acceptedCreates(job.name));
    }

    @Test
    void aCapacityLimitPastTheStartTimeoutFailsTheRunQuotingSageMaker() throws Exception {
        for (int i = 0; i < 100; i++) {
            stub.failNextCreate("ResourceLimitExceeded", "The account-level service limit 'ml.p3.2xlarge for "
                    + "training job usage' is 0 Instances");
        }
        try {
            String runId = enqueue("PT3S");
            RunLifecycle failed = awaitFact(runId, EventTypes.RUN_FAILED);
            assertEquals("target", failed.stage());
            assertTrue(failed.reason().contains("did not start within PT3S"), failed.reason());
            assertTrue(failed.reason().contains("ResourceLimitExceeded: The account-level service limit"),
                    failed.reason());
            assertNull(stub.job("launch-" + runId + "-1"), "nothing was created");
        } finally {
            stub.clearFaults();
        }
    }
}
