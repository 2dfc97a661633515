package dev.launch.agent.target.sagemaker;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.agent.target.Handles;
import dev.launch.agent.target.TargetObserver;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunRequest;
import dev.launch.common.job.JobSource;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.SageMakerStub;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.cloudwatchlogs.CloudWatchLogsClient;
import software.amazon.awssdk.services.sagemaker.SageMakerClient;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The sagemaker target with the real AWS SDK clients against {@link SageMakerStub}, a stateful stand-in for the
 * SageMaker and CloudWatch Logs JSON APIs that the test moves through SageMaker's states: whole lifecycles, each
 * mapping of a training job's end, stop, capacity limits, throttling, refusals, a create that commits but answers
 * 500, and adoption by another agent — with one accepted CreateTrainingJob per attempt and each log line once.
 */
class SageMakerTargetTest {
    private static final String ROLE = "arn:aws:iam::123456789012:role/launch-training";
    private static final String IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:1";
    private static final String CONFIG = """
            {"RoleArn": "%s", "region": "us-east-1",
             "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
             "OutputDataConfig": {"S3OutputPath": "s3://models/out"},
             "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
             "HyperParameters": {"epochs": "2"},
             "Environment": {"WANDB_PROJECT": "vision"},
             "Tags": [{"Key": "team", "Value": "vision"}]}""".formatted(ROLE);
    private static SageMakerStub stub;
    private static SageMakerClient sageMaker;
    private static CloudWatchLogsClient logs;
    private SageMakerTarget target;
    private final List<SageMakerTarget> others = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void up() {
        stub = SageMakerStub.start();
        var credentials = StaticCredentialsProvider.create(AwsBasicCredentials.create("test", "test"));
        sageMaker = SageMakerClient.builder().endpointOverride(URI.create(stub.endpoint())).region(Region.US_EAST_1)
                .credentialsProvider(credentials).httpClientBuilder(UrlConnectionHttpClient.builder()).build();
        logs = CloudWatchLogsClient.builder().endpointOverride(URI.create(stub.endpoint())).region(Region.US_EAST_1)
                .credentialsProvider(credentials).httpClientBuilder(UrlConnectionHttpClient.builder()).build();
    }

    @AfterAll
    static void down() {
        sageMaker.close();
        logs.close();
        stub.close();
    }

    @BeforeEach
    void newTarget() {
        stub.limitRate(0);
        target = target();
    }

    @AfterEach
    void closeTargets() {
        target.close();
        others.forEach(SageMakerTarget::close);
    }

    private SageMakerTarget target() {
        SageMakerTarget t = new SageMakerTarget();
        t.use(sageMaker, logs, "test-installation", new SageMakerTarget.Timings(Duration.ofMillis(100),
                Duration.ofMillis(400), Duration.ofMillis(100), 100, Duration.ofMillis(400), Duration.ofSeconds(5),
                Duration.ofMillis(300)));
        return t;
    }

    /** What the target told one run, in order. */
    static final class Seen implements TargetObserver {
        final List<String> events = new CopyOnWriteArrayList<>();
        final List<String> lines = new CopyOnWriteArrayList<>();
        final List<Long> positions = new CopyOnWriteArrayList<>();

        @Override
        public boolean launching() {
            events.add("launching");
            return true;
        }

        @Override
        public void progressed(String reason) {
            events.add("progressed: " + reason);
        }

        @Override
        public void running() {
            events.add("running");
        }

        @Override
        public void output(String stream, String line, long position) {
            output(stream, null, line, position);
        }

        @Override
        public void output(String stream, String source, String line, long position) {
            lines.add(source + " " + line);
            positions.add(position);
        }

        @Override
        public void exited(int exitCode) {
            events.add("exited " + exitCode);
        }

        @Override
        public void failed(String stage, String reason, Integer exitCode) {
            events.add("failed " + stage + " " + exitCode + ": " + reason);
        }

        @Override
        public void stopped(Integer exitCode) {
            events.add("stopped");
        }

        @Override
        public void preempted(String reason) {
            events.add("preempted: " + reason);
        }

        String last() {
            return events.isEmpty() ? "" : events.get(events.size() - 1);
        }

        void awaitLast(String prefix) {
            await().atMost(20, TimeUnit.SECONDS).pollInterval(20, TimeUnit.MILLISECONDS)
                    .until(() -> last().startsWith(prefix));
        }

        void awaitEvent(String prefix) {
            await().atMost(20, TimeUnit.SECONDS).pollInterval(20, TimeUnit.MILLISECONDS)
                    .until(() -> events.stream().anyMatch(e -> e.startsWith(prefix)));
        }

        long count(String prefix) {
            return events.stream().filter(e -> e.startsWith(prefix)).count();
        }
    }

    private static RunRequest run(String config) throws Exception {
        ObjectNode target = Events.MAPPER.createObjectNode().put("type", "sagemaker");
        target.set("config", Events.MAPPER.readTree(config));
        return new RunRequest(RunIds.next(), "gpu", "train", 3, "sha256:x",
                new JobSource(JobSource.IMAGE, IMAGE, null, null, null, null, null),
                List.of("python", "train.py", "--epochs", "2"), Events.MAPPER.createObjectNode().put("lr", 0.1),
                target, 1, 1, null, Instant.now(), null);
    }

    private static String handle(RunRequest r) {
        return Handles.of(r.runId(), r.attempt(), 63);
    }

    private Seen submit(SageMakerTarget t, RunRequest r) {
        Seen seen = new Seen();
        t.submit(r, handle(r), seen);
        return seen;
    }

    private static SageMakerStub.TrainingJob created(RunRequest r) {
        await().atMost(20, TimeUnit.SECONDS).pollInterval(20, TimeUnit.MILLISECONDS)
                .until(() -> stub.job(handle(r)) != null);
        return stub.job(handle(r));
    }

    @Test
    void aTrainingJobMadeFromTheQueuesBodyRunsToItsEndWithEveryStreamsOutputOnce() throws Exception {
        RunRequest r = run(CONFIG.replace("\"region\": \"us-east-1\",", "\"TrainingJobName\": \"mine\",")
                .replace("\"InstanceCount\": 1", "\"InstanceCount\": 2"));
        Seen seen = submit(target, r);
        SageMakerStub.TrainingJob job = created(r);
        assertEquals("launch-" + r.runId() + "-1", job.name, "the config's name is replaced by the handle");
        assertEquals(IMAGE, job.request.at("/AlgorithmSpecification/TrainingImage").asText());
        assertEquals("File", job.request.at("/AlgorithmSpecification/TrainingInputMode").asText());
        assertEquals("[\"python\"]", job.request.at("/AlgorithmSpecification/ContainerEntrypoint").toString());
        assertEquals("[\"train.py\",\"--epochs\",\"2\"]",
                job.request.at("/AlgorithmSpecification/ContainerArguments").toString());
        assertEquals("ml.g5.xlarge", job.request.at("/ResourceConfig/InstanceType").asText());
        assertEquals(ROLE, job.request.path("RoleArn").asText());
        Map<String, String> env = job.environment();
        assertEquals(r.runId(), env.get("LAUNCH_RUN_ID"));
        assertEquals("1", env.get("LAUNCH_ATTEMPT"));
        assertEquals("{\"lr\":0.1}", env.get("LAUNCH_INPUTS"));
        assertEquals("vision", env.get("WANDB_PROJECT"));
        Map<String, String> tags = job.tags();
        assertEquals(r.runId(), tags.get("launch.run-id"));
        assertEquals("gpu", tags.get("launch.queue"));
        assertEquals("1", tags.get("launch.attempt"));
        assertEquals("test-installation", tags.get("launch.installation"));
        assertEquals("vision", tags.get("team"));

        seen.awaitEvent("progressed: Starting: Launching requested ML instances");
        stub.advance(job.name, "InProgress", "Downloading", "Downloading input data");
        seen.awaitEvent("progressed: Downloading: Downloading input data");
        assertFalse(seen.events.contains("running"));
        stub.training(job.name);
        seen.awaitEvent("running");
        // two instances, each its own stream, longer than a page
        String[] first = IntStream.range(0, 60).mapToObj(i -> "step " + i).toArray(String[]::new);
        stub.log(job.name, "algo-1-1700000000", first);
        stub.log(job.name, "algo-2-1700000000", "worker ready");
        // a job whose name extends this one's must not be read as this one's
        stub.log(job.name + "0", "algo-1-1700000000", "not mine");
        await().atMost(20, TimeUnit.SECONDS).until(() -> seen.lines.size() == 61);
        stub.complete(job.name);
        stub.logLater(150, job.name, "algo-1-1700000000", "saved model");
        seen.awaitLast("exited 0");
        List<String> expected = new ArrayList<>();
        for (String line : first) {
            expected.add("algo-1-1700000000 [algo-1-1700000000] " + line);
        }
        expected.add("algo-2-1700000000 [algo-2-1700000000] worker ready");
        expected.add("algo-1-1700000000 [algo-1-1700000000] saved model");
        assertEquals(expected.size(), seen.lines.size(), "each line once: " + seen.lines);
        assertTrue(seen.lines.containsAll(expected), seen.lines.toString());
        assertEquals(1, seen.count("running"));
        assertEquals(1, stub.acceptedCreates(job.name));
    }

    @Test
    void failuresCarrySageMakersReasonAndBlameTheRunOnlyForAlgorithmErrors() throws Exception {
        RunRequest r = run(CONFIG);
        Seen seen = submit(target, r);
        SageMakerStub.TrainingJob job = created(r);
        stub.training(job.name);
        seen.awaitEvent("running");
        stub.fail(job.name, "AlgorithmError: ExecuteUserScriptError: Command \"python train.py\", exit code: 2");
        seen.awaitLast("failed run 2: AlgorithmError: ExecuteUserScriptError");

        RunRequest data = run(CONFIG);
        Seen dataSeen = submit(target, data);
        SageMakerStub.TrainingJob dataJob = created(data);
        stub.fail(dataJob.name, "ClientError: Data download failed: NoSuchKey s3://data/train");
        dataSeen.awaitLast("failed target null: ClientError: Data download failed");
        assertFalse(dataSeen.events.contains("running"));
    }

    @Test
    void aStopIsSentToSageMakerAndTheRunIsStoppedWhenSageMakerSaysStopped() throws Exception {
        RunRequest r = run(CONFIG);
        Seen seen = submit(target, r);
        SageMakerStub.TrainingJob job = created(r);
        stub.training(job.name);
        seen.awaitEvent("running");
        int stops = stub.calls("StopTrainingJob");
        target.stop(handle(r));
        seen.awaitLast("stopped");
        assertEquals(stops + 1, stub.calls("StopTrainingJob"));
        assertEquals("Stopped", job.status);
        assertTrue(job.stopRequested);
    }

    @Test
    void maxRuntimeFailsTheRunAndAStopByAnotherToolIsNotAStopByLaunch() throws Exception {
        RunRequest r = run(CONFIG);
        Seen seen = submit(target, r);
        SageMakerStub.TrainingJob job = created(r);
        stub.training(job.name);
        seen.awaitEvent("running");
        stub.advance(job.name, "Stopped", "MaxRuntimeExceeded", "Training job runtime exceeded MaxRuntimeInSeconds");
        seen.awaitLast("failed target null: max runtime exceeded");

        RunRequest other = run(CONFIG);
        Seen otherSeen = submit(target, other);
        created(other);
        stub.advance(handle(other), "Stopped", "Stopped", "The job was stopped");
        otherSeen.awaitLast("failed target null: the training job was stopped outside Launch");
    }

    @Test
    void aSpotInterruptionThatSageMakerResumesKeepsTheRunRunningAndAWaitPastMaxWaitIsAPreemption() throws Exception {
        String spot = CONFIG.replace("\"MaxRuntimeInSeconds\": 3600", "\"MaxRuntimeInSeconds\": 3600, "
                + "\"MaxWaitTimeInSeconds\": 7200").replace("\"HyperParameters\"", "\"EnableManagedSpotTraining\": "
                + "true, \"HyperParameters\"");
        RunRequest r = run(spot);
        Seen seen = submit(target, r);
        SageMakerStub.TrainingJob job = created(r);
        assertTrue(job.request.path("EnableManagedSpotTraining").asBoolean());
        stub.training(job.name);
        seen.awaitEvent("running");
        stub.advance(job.name, "InProgress", "Interrupted", "The spot instance was interrupted");
        seen.awaitEvent("progressed: spot interruption, SageMaker is resuming");
        stub.advance(job.name, "InProgress", "Restarting", "Restarting the training job");
        seen.awaitEvent("progressed: spot interruption, SageMaker is resuming (Restarting");
        stub.training(job.name);
        seen.awaitLast("progressed: Training");
        stub.complete(job.name);
        seen.awaitLast("exited 0");
        assertEquals(1, seen.count("running"), seen.events.toString());

        RunRequest waited = run(spot);
        Seen waitedSeen = submit(target, waited);
        created(waited);
        stub.advance(handle(waited), "Stopped", "MaxWaitTimeExceeded", "Spot capacity was not available");
        waitedSeen.awaitLast("preempted: spot capacity");
        assertEquals(1, stub.acceptedCreates(handle(waited)));
    }

    @Test
    void aCapacityLimitKeepsTheRunStartingAndIsTriedAgainUntilItIsCreated() throws Exception {
        stub.failNextCreate("ResourceLimitExceeded", "The account-level service limit 'ml.g5.xlarge for training "
                + "job usage' is 0 Instances, with current utilization of 0 Instances");
        stub.failNextCreate("ResourceLimitExceeded", "The account-level service limit 'ml.g5.xlarge for training "
                + "job usage' is 0 Instances, with current utilization of 0 Instances");
        RunRequest r = run(CONFIG);
        Seen seen = submit(target, r);
        seen.awaitEvent("progressed: ResourceLimitExceeded: The account-level service limit");
        SageMakerStub.TrainingJob job = created(r);
        assertEquals(1, stub.acceptedCreates(job.name));
        stub.training(job.name);
        seen.awaitEvent("running");
        stub.complete(job.name);
        seen.awaitLast("exited 0");
        assertFalse(seen.events.stream().anyMatch(e -> e.startsWith("failed")));
    }

    @Test
    void aStopWhileACreateWaitsForCapacityCreatesNothing() throws Exception {
        for (int i = 0; i < 50; i++) {
            stub.failNextCreate("ResourceLimitExceeded", "no capacity");
        }
        try {
            RunRequest r = run(CONFIG);
            Seen seen = submit(target, r);
            seen.awaitEvent("progressed: ResourceLimitExceeded");
            target.stop(handle(r));
            seen.awaitLast("stopped");
            assertNull(stub.job(handle(r)));
        } finally {
            stub.clearFaults();
        }
    }

    @Test
    void aValidationErrorFailsTheRunWithSageMakersMessage() throws Exception {
        stub.failNextCreate("ValidationException", "Instance type ml.g5.xlarge is not supported in region "
                + "us-east-1 for training jobs");
        RunRequest r = run(CONFIG);
        Seen seen = submit(target, r);
        seen.awaitLast("failed target null: SageMaker refused the training job: Instance type ml.g5.xlarge");
        assertNull(stub.job(handle(r)));
    }

    @Test
    void aCreateThatCommitsButAnswers500IsAdoptedNotRepeated() throws Exception {
        stub.failNextCreate("commit-then-500", "");
        RunRequest r = run(CONFIG);
        Seen seen = submit(target, r);
        SageMakerStub.TrainingJob job = created(r);
        stub.training(job.name);
        seen.awaitEvent("running");
        stub.complete(job.name);
        seen.awaitLast("exited 0");
        assertEquals(1, stub.acceptedCreates(job.name), "one accepted CreateTrainingJob per attempt");
        assertTrue(stub.calls().getOrDefault("CreateTrainingJob:ResourceInUse", 0) >= 1, stub.calls().toString());
    }

    @Test
    void aJobOfTheSameNameThatIsNotThisAttemptsIsLeftAlone() throws Exception {
        RunRequest r = run(CONFIG);
        RunRequest impostor = new RunRequest(RunIds.next(), r.queue(), r.job(), r.jobVersion(), r.jobDigest(),
                r.source(), r.command(), r.inputs(), r.target(), 1, 1, null, Instant.now(), null);
        // another installation made a job of this name (same handle, other tags)
        SageMakerTarget foreign = new SageMakerTarget();
        others.add(foreign);
        foreign.use(sageMaker, logs, "other-installation", new SageMakerTarget.Timings(Duration.ofMillis(100),
                Duration.ofMillis(400), Duration.ofMillis(100), 100, Duration.ofMillis(400), Duration.ofSeconds(5),
                Duration.ofMillis(300)));
        sageMaker.createTrainingJob(foreign.requestFor(impostor, handle(r)));
        Seen seen = submit(target, r);
        seen.awaitLast("failed target null: a training job named " + handle(r) + " exists and is not this run's");
        assertEquals(impostor.runId(), stub.job(handle(r)).tags().get("launch.run-id"));
    }

    @Test
    void anotherAgentAdoptsATrainingJobAndShipsOnlyTheLinesAfterTheLastShipped() throws Exception {
        RunRequest r = run(CONFIG);
        Seen first = submit(target, r);
        SageMakerStub.TrainingJob job = created(r);
        stub.training(job.name);
        first.awaitEvent("running");
        stub.log(job.name, "algo-1-1700000000", "epoch 1", "epoch 2");
        await().atMost(20, TimeUnit.SECONDS).until(() -> first.lines.size() == 2);
        target.detach(handle(r)); // the agent died: its positions were stored up to epoch 2
        long last = first.positions.get(1);
        stub.log(job.name, "algo-1-1700000000", "epoch 3");

        SageMakerTarget adopter = target();
        others.add(adopter);
        Seen second = new Seen();
        adopter.attach(r, handle(r), last, second);
        second.awaitEvent("running");
        await().atMost(20, TimeUnit.SECONDS).until(() -> second.lines.size() == 1);
        stub.complete(job.name);
        second.awaitLast("exited 0");
        assertEquals(List.of("algo-1-1700000000 epoch 3"), second.lines);
        assertEquals(1, stub.acceptedCreates(job.name));

        Seen gone = new Seen();
        RunRequest never = run(CONFIG);
        adopter.attach(never, handle(never), -1, gone);
        gone.awaitLast("failed target null: training job " + handle(never) + " is gone");
    }

    @Test
    void throttlingBacksThePollerOffAndEveryRunStillEnds() throws Exception {
        List<RunRequest> runs = new ArrayList<>();
        List<Seen> seen = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            RunRequest r = run(CONFIG);
            runs.add(r);
            seen.add(submit(target, r));
        }
        runs.forEach(SageMakerTargetTest::created);
        int throttledBefore = stub.throttled();
        stub.limitRate(4);
        try {
            runs.forEach(r -> stub.training(handle(r)));
            runs.forEach(r -> stub.log(handle(r), "algo-1-1700000000", "hello"));
            await().atMost(30, TimeUnit.SECONDS).until(() -> stub.throttled() > throttledBefore);
            runs.forEach(r -> stub.complete(handle(r)));
            for (Seen s : seen) {
                await().atMost(60, TimeUnit.SECONDS).pollInterval(50, TimeUnit.MILLISECONDS)
                        .until(() -> s.last().startsWith("exited 0"));
                assertEquals(List.of("algo-1-1700000000 hello"), s.lines);
            }
        } finally {
            stub.limitRate(0);
        }
        runs.forEach(r -> assertEquals(1, stub.acceptedCreates(handle(r))));
    }

    @Test
    void jobStatesMapAsSageMakerMeansThem() {
        assertInstanceOf(JobStates.Progress.class, JobStates.of("InProgress", "PreparingTrainingStack", "x", null,
                false, false));
        assertInstanceOf(JobStates.Running.class, JobStates.of("InProgress", "Uploading", "x", null, false, true));
        assertEquals(new JobStates.Failed("run", "AlgorithmError: exit code: 137", 137, true),
                JobStates.failed("AlgorithmError: exit code: 137", false));
        assertEquals("target", JobStates.failed("CapacityError: Unable to provision requested ML compute capacity",
                false).stage());
        assertInstanceOf(JobStates.Preempted.class, JobStates.of("Failed", "Interrupted", null, null, false, true));
        assertInstanceOf(JobStates.Stopped.class, JobStates.of("Stopped", "Stopped", null, null, true, true));
    }
}
