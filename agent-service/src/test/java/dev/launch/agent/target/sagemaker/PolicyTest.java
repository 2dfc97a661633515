package dev.launch.agent.target.sagemaker;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.agent.target.Handles;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunRequest;
import dev.launch.common.job.JobSource;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.SageMakerStub;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.cloudwatchlogs.CloudWatchLogsClient;
import software.amazon.awssdk.services.sagemaker.SageMakerClient;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code deploy/aws/launch-agent-policy.json} grants exactly what the sagemaker target uses: every action the
 * target calls through every path — a run to its end with its output, a stop, a create answered late (then met
 * as an existing name), an adoption, a look for the queue's jobs — is recorded by the stub and compared with the
 * policy's actions, with what AWS checks beside a call ({@code sagemaker:AddTags} for a create with tags,
 * {@code iam:PassRole} for the execution role). Less breaks the agent; more gives it rights it does not need.
 */
class PolicyTest {

    @Test
    void theAgentsPolicyGrantsExactlyWhatTheTargetUses() throws Exception {
        Set<String> used = new TreeSet<>();
        try (SageMakerStub stub = SageMakerStub.start()) {
            var credentials = StaticCredentialsProvider.create(AwsBasicCredentials.create("test", "test"));
            try (SageMakerClient sageMaker = SageMakerClient.builder().endpointOverride(URI.create(stub.endpoint()))
                    .region(Region.US_EAST_1).credentialsProvider(credentials)
                    .httpClientBuilder(UrlConnectionHttpClient.builder()).build();
                 CloudWatchLogsClient logs = CloudWatchLogsClient.builder().endpointOverride(URI.create(stub.endpoint()))
                         .region(Region.US_EAST_1).credentialsProvider(credentials)
                         .httpClientBuilder(UrlConnectionHttpClient.builder()).build()) {
                SageMakerTarget target = new SageMakerTarget();
                SageMakerTarget adopter = new SageMakerTarget();
                var timings = new SageMakerTarget.Timings(Duration.ofMillis(100), Duration.ofMillis(300),
                        Duration.ofMillis(100), 100, Duration.ofMillis(200), Duration.ofSeconds(3), Duration.ofMillis(200));
                target.use(sageMaker, logs, "policy-test", timings);
                adopter.use(sageMaker, logs, "policy-test", timings);
                try {
                    // a run to its end with output, a create answered late, a stop
                    stub.failNextCreate("commit-then-500", "");
                    RunRequest r = run();
                    SageMakerTargetTest.Seen seen = new SageMakerTargetTest.Seen();
                    target.submit(r, handle(r), seen);
                    await().atMost(20, TimeUnit.SECONDS).until(() -> stub.job(handle(r)) != null);
                    stub.training(handle(r));
                    stub.log(handle(r), "algo-1-1700000000", "hello");
                    await().atMost(20, TimeUnit.SECONDS).until(() -> seen.lines.size() == 1);
                    assertEquals(List.of(handle(r)), target.find("gpu"));
                    target.detach(handle(r));
                    SageMakerTargetTest.Seen adopted = new SageMakerTargetTest.Seen();
                    adopter.attach(r, handle(r), -1, adopted);
                    adopted.awaitEvent("running");
                    adopter.stop(handle(r));
                    adopted.awaitLast("stopped");
                } finally {
                    target.close();
                    adopter.close();
                }
            }
            stub.calls().keySet().forEach(call -> {
                String action = call.contains(":") ? call.substring(0, call.indexOf(':')) : call;
                used.add((Set.of("DescribeLogStreams", "GetLogEvents").contains(action) ? "logs:" : "sagemaker:")
                        + action);
                if (action.equals("CreateTrainingJob")) {
                    used.add("sagemaker:AddTags"); // tags on create are authorized as AddTags
                    used.add("iam:PassRole"); // the execution role is passed to SageMaker
                }
            });
        }
        JsonNode policy = Events.MAPPER.readTree(Path.of("..", "deploy", "aws", "launch-agent-policy.json").toFile());
        Set<String> granted = new TreeSet<>();
        for (JsonNode statement : policy.get("Statement")) {
            JsonNode actions = statement.get("Action");
            if (actions.isArray()) {
                actions.forEach(a -> granted.add(a.asText()));
            } else {
                granted.add(actions.asText());
            }
        }
        assertEquals(granted, used, "deploy/aws/launch-agent-policy.json must grant exactly what the target uses");
    }

    private static RunRequest run() throws Exception {
        var target = Events.MAPPER.createObjectNode().put("type", "sagemaker")
                .put("roleArn", "arn:aws:iam::123456789012:role/launch");
        target.set("config", Events.MAPPER.readTree("""
                {"ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
                 "OutputDataConfig": {"S3OutputPath": "s3://models/out"},
                 "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}"""));
        return new RunRequest(RunIds.next(), "gpu", "train", 1, "sha256:x",
                new JobSource(JobSource.IMAGE, "123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1", null, null, null,
                        null, null), List.of("python", "t.py"), Events.MAPPER.createObjectNode(), target, 1, 1, null,
                Instant.now(), null);
    }

    private static String handle(RunRequest r) {
        return Handles.of(r.runId(), r.attempt(), 63);
    }
}
