package dev.launch.e2e;

import dev.launch.devstack.SageMakerStub;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
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
 * The sagemaker target end to end: a queue made from a W&amp;B-style CreateTrainingJob body through the queue
 * service, agents as processes that find SageMaker and CloudWatch Logs through the AWS SDK's own settings
 * ({@code AWS_ENDPOINT_URL_SAGEMAKER}, {@code AWS_ENDPOINT_URL_CLOUDWATCH_LOGS}, {@code AWS_REGION}, credentials
 * from the environment) pointed at {@link SageMakerStub} in this JVM. A training job outlives its agent killed
 * with -9 and is adopted by the queue's other agent, each log line stored once; a spot job whose wait for capacity
 * ran out is queued again as its next attempt. One accepted CreateTrainingJob per attempt throughout.
 */
class SageMakerLaunchIT {
    private static final String INSTALLATION = "e2e-sm-" + UUID.randomUUID();
    private static final String IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:1";
    private static LaunchStack stack;
    private static SageMakerStub stub;
    private static String suffix;

    @BeforeAll
    static void start() {
        stack = LaunchStack.shared();
        stub = SageMakerStub.start();
        suffix = UUID.randomUUID().toString().substring(0, 8);
    }

    @AfterAll
    static void stop() {
        stub.close();
    }

    private static ServiceProcess agent(String id, String queue) {
        Map<String, String> settings = new HashMap<>();
        settings.put("AWS_ENDPOINT_URL_SAGEMAKER", stub.endpoint());
        settings.put("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", stub.endpoint());
        settings.put("AWS_REGION", "us-east-1");
        settings.put("AWS_ACCESS_KEY_ID", "AKIAE2ETESTS");
        settings.put("AWS_SECRET_ACCESS_KEY", "not-a-secret");
        settings.put("LAUNCH_INSTALLATION", INSTALLATION);
        settings.put("LAUNCH_AGENT_HEARTBEAT_INTERVAL", "PT1S");
        settings.put("LAUNCH_AGENT_SAGEMAKER_POLL_MIN", "PT0.2S");
        settings.put("LAUNCH_AGENT_SAGEMAKER_POLL_MAX", "PT1S");
        settings.put("LAUNCH_AGENT_SAGEMAKER_LOG_INTERVAL", "PT0.2S");
        settings.put("LAUNCH_AGENT_SAGEMAKER_LOG_QUIET", "PT0.5S");
        return stack.agent(id, 2, settings, queue);
    }

    private static String logs(String runId) {
        return given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId + "/logs")
                .then().statusCode(200).extract().asString();
    }

    private static JsonPath run(String runId) {
        return given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + runId)
                .then().statusCode(200).extract().jsonPath();
    }

    private static void awaitState(String runId, String state) {
        await().atMost(90, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS)
                .untilAsserted(() -> assertEquals(state, run(runId).getString("state")));
    }

    private static SageMakerStub.TrainingJob job(String runId, int attempt) {
        String name = "launch-" + runId + "-" + attempt;
        await().atMost(60, TimeUnit.SECONDS).until(() -> stub.job(name) != null);
        return stub.job(name);
    }

    /** A queue from a W&B Launch SageMaker config: the CreateTrainingJob body, an instance type variable. */
    private static void queue(String name, int maxAttempts, boolean spot) {
        String stopping = spot ? "{\"MaxRuntimeInSeconds\": 3600, \"MaxWaitTimeInSeconds\": 7200}"
                : "{\"MaxRuntimeInSeconds\": 3600}";
        given().baseUri(stack.queues.url()).contentType(ContentType.JSON).body("""
                {"name": "%s", "target": {"type": "sagemaker", "region": "us-east-1"}, "maxAttempts": %d,
                 "templateVariables": {"aws_instance": {"schema": {"type": "string",
                     "enum": ["ml.m4.xlarge", "ml.p3.xlarge"]}}},
                 "config": {"RoleArn": "arn:aws:iam::123456789012:role/launch-training",
                   "ResourceConfig": {"InstanceType": "{{aws_instance}}", "InstanceCount": 1, "VolumeSizeInGB": 2},
                   "OutputDataConfig": {"S3OutputPath": "s3://models/${run_id}"},
                   "EnableManagedSpotTraining": %s,
                   "StoppingCondition": %s}}""".formatted(name, maxAttempts, spot, stopping))
                .when().post("/api/v1/queues").then().statusCode(201);
    }

    private static String enqueue(String queue, String job) {
        return given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\",\"templateVariables\":{\"aws_instance\":\"ml.p3.xlarge\"}}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("runId");
    }

    private static String imageJob() {
        String job = "sm-trainer-" + UUID.randomUUID().toString().substring(0, 8);
        given().baseUri(stack.jobs.url()).contentType(ContentType.JSON).body("""
                {"name":"%s","source":{"type":"image","image":"%s"},
                 "entrypoint":["python","train.py"]}""".formatted(job, IMAGE))
                .when().post("/api/v1/jobs").then().statusCode(anyOf(is(200), is(201)));
        return job;
    }

    @Test
    void aTrainingJobOutlivesItsKilledAgentAndIsAdoptedByAnotherAgentOfItsQueue() throws Exception {
        String queue = "sm-" + suffix;
        queue(queue, 1, false);
        String job = imageJob();
        ServiceProcess first = agent(queue + "-agent-1", queue);
        String runId = enqueue(queue, job);
        SageMakerStub.TrainingJob trainingJob = job(runId, 1);
        assertEquals("ml.p3.xlarge", trainingJob.request.at("/ResourceConfig/InstanceType").asText(),
                "the run's variable is in the request");
        assertEquals("s3://models/" + runId, trainingJob.request.at("/OutputDataConfig/S3OutputPath").asText());
        stub.training(trainingJob.name);
        awaitState(runId, "RUNNING");
        stub.log(trainingJob.name, "algo-1-1700000000", "line-1", "line-2", "line-3");
        await().atMost(30, TimeUnit.SECONDS).until(() -> logs(runId).contains("line-3"));

        first.kill();
        stub.log(trainingJob.name, "algo-1-1700000000", "line-4", "line-5", "line-6");
        try (ServiceProcess second = agent(queue + "-agent-2", queue)) {
            await().atMost(60, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS).untilAsserted(() ->
                    assertEquals(queue + "-agent-2", run(runId).getString("agentId")));
            stub.log(trainingJob.name, "algo-1-1700000000", "line-7");
            await().atMost(30, TimeUnit.SECONDS).until(() -> logs(runId).contains("line-7"));
            stub.complete(trainingJob.name);
            stub.logLater(300, trainingJob.name, "algo-1-1700000000", "line-8");
            awaitState(runId, "FINISHED");
            JsonPath done = run(runId);
            assertEquals(1, done.getInt("attempt"), "adopted, not retried");
            assertEquals(List.of(queue + "-agent-1", queue + "-agent-2"), done.getList("attempts[0].agents"));
            assertEquals(IntStream.rangeClosed(1, 8).mapToObj(i -> "line-" + i).toList(), logs(runId).lines().toList(),
                    "each line once, across the agent's absence, the last one read after the job completed");
            assertEquals(1, stub.acceptedCreates(trainingJob.name), "one accepted CreateTrainingJob");
        }
    }

    @Test
    void aSpotJobWhoseWaitForCapacityRanOutIsQueuedAgainAsItsNextAttempt() throws Exception {
        String queue = "sm-spot-" + suffix;
        queue(queue, 2, true);
        String job = imageJob();
        try (ServiceProcess agent = agent(queue + "-agent", queue)) {
            String runId = enqueue(queue, job);
            SageMakerStub.TrainingJob first = job(runId, 1);
            assertTrue(first.request.path("EnableManagedSpotTraining").asBoolean());
            stub.training(first.name);
            awaitState(runId, "RUNNING");
            stub.advance(first.name, "Stopped", "MaxWaitTimeExceeded", "Spot capacity was not available");
            SageMakerStub.TrainingJob second = job(runId, 2);
            assertEquals("2", second.environment().get("LAUNCH_ATTEMPT"));
            stub.training(second.name);
            await().atMost(60, TimeUnit.SECONDS).pollInterval(200, TimeUnit.MILLISECONDS).untilAsserted(() -> {
                JsonPath now = run(runId);
                assertEquals("RUNNING", now.getString("state"));
                assertEquals(2, now.getInt("attempt"));
            });
            stub.complete(second.name);
            awaitState(runId, "FINISHED");
            JsonPath done = run(runId);
            assertEquals("PREEMPTED", done.getString("attempts[0].outcome"), done.prettify());
            assertEquals(first.name, done.getString("attempts[0].handle"));
            assertEquals(second.name, done.getString("attempts[1].handle"));
            assertTrue(done.getList("history.reason", String.class).stream()
                    .anyMatch(r -> r != null && r.contains("MaxWaitTimeExceeded")), done.prettify());
            assertEquals(1, stub.acceptedCreates(first.name));
            assertEquals(1, stub.acceptedCreates(second.name));
        }
    }
}
