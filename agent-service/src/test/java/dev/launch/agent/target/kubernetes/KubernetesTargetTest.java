package dev.launch.agent.target.kubernetes;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.agent.target.Handles;
import dev.launch.agent.target.TargetObserver;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunRequest;
import dev.launch.common.job.JobSource;
import dev.launch.common.naming.RunIds;
import dev.launch.devstack.KubernetesTestCluster;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The kubernetes target against fabric8's mock API server, with {@link KubernetesTestCluster} playing the Job
 * controller, the scheduler and the kubelet: every mapping of pod and Job states to what a run reports, stop,
 * logs (of a crashed container too), and adoption of a Job another agent started.
 */
class KubernetesTargetTest {
    private static final Duration FAILURE_WAIT = Duration.ofSeconds(2);
    private static KubernetesTestCluster cluster;
    private KubernetesTarget target;
    private final List<KubernetesTarget> others = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void up() {
        cluster = new KubernetesTestCluster();
        cluster.serve("kubeflow.org", "v1", "PyTorchJob", "pytorchjobs");
    }

    @AfterAll
    static void down() {
        cluster.close();
    }

    @BeforeEach
    void newTarget() {
        target = target();
        cluster.onPodCreated(pod -> { });
    }

    @AfterEach
    void closeTargets() {
        target.close();
        others.forEach(KubernetesTarget::close);
    }

    private KubernetesTarget target() {
        KubernetesTarget t = new KubernetesTarget();
        t.use(cluster.client(), "test-installation", FAILURE_WAIT, Duration.ofDays(1), Duration.ofMinutes(5));
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
            lines.add(line);
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
            await().atMost(20, TimeUnit.SECONDS).pollInterval(50, TimeUnit.MILLISECONDS)
                    .until(() -> last().startsWith(prefix));
        }

        void awaitEvent(String prefix) {
            await().atMost(20, TimeUnit.SECONDS).pollInterval(50, TimeUnit.MILLISECONDS)
                    .until(() -> events.stream().anyMatch(e -> e.startsWith(prefix)));
        }
    }

    private static RunRequest run(String config) throws Exception {
        ObjectNode target = Events.MAPPER.createObjectNode().put("type", "kubernetes").put("namespace", "team-a");
        if (config != null) {
            target.set("config", Events.MAPPER.readTree(config));
        }
        return new RunRequest(RunIds.next(), "gpu", "train", 3, "sha256:x",
                new JobSource(JobSource.IMAGE, "registry.local/trainer:1", null, null, null, null, null),
                List.of("python", "train.py", "--epochs", "2"), Events.MAPPER.createObjectNode().put("lr", 0.1),
                target, 1, 1, null, Instant.now(), null);
    }

    private static String handle(RunRequest r) {
        return Handles.of(r.runId(), r.attempt(), 63);
    }

    private static Pod podOf(RunRequest r) {
        await().atMost(20, TimeUnit.SECONDS).pollInterval(50, TimeUnit.MILLISECONDS)
                .until(() -> cluster.pods(r.runId()).size() == 1);
        return cluster.pods(r.runId()).get(0);
    }

    private Seen submit(RunRequest r) {
        Seen seen = new Seen();
        target.submit(r, handle(r), seen);
        return seen;
    }

    @Test
    void aJobMadeFromTheQueuesManifestRunsToItsEndWithItsOutputAndIsDeletedOnceReported() throws Exception {
        RunRequest r = run("{\"metadata\": {\"name\": \"wandb-job-x\", \"labels\": {\"team\": \"vision\"}}, \"spec\": "
                + "{\"template\": {\"spec\": {\"containers\": [{\"name\": \"trainer\", \"image\": \"<DOCKER_IMAGE>\", "
                + "\"env\": [{\"name\": \"WANDB_API_KEY\", \"valueFrom\": {\"secretKeyRef\": {\"name\": \"wandb\", "
                + "\"key\": \"password\"}}}]}]}}}}");
        Seen seen = submit(r);
        Pod pod = podOf(r);
        Job job = cluster.jobs(r.runId()).get(0);
        assertEquals(handle(r), job.getMetadata().getName(), "the config's name is replaced by the handle");
        assertEquals("team-a", job.getMetadata().getNamespace());
        Map<String, String> labels = job.getMetadata().getLabels();
        assertEquals(r.runId(), labels.get("launch.run-id"));
        assertEquals("gpu", labels.get("launch.queue"));
        assertEquals("1", labels.get("launch.attempt"));
        assertEquals("test-installation", labels.get("launch.installation"));
        assertEquals("vision", labels.get("team"));
        assertEquals(r.runId(), job.getSpec().getTemplate().getMetadata().getLabels().get("launch.run-id"));
        assertEquals(0, job.getSpec().getBackoffLimit());
        assertEquals(86400, job.getSpec().getTtlSecondsAfterFinished());
        assertEquals("Never", job.getSpec().getTemplate().getSpec().getRestartPolicy());
        var container = job.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertEquals("registry.local/trainer:1", container.getImage());
        assertEquals(List.of("python", "train.py", "--epochs", "2"), container.getCommand());
        Map<String, EnvVar> env = container.getEnv().stream().collect(Collectors.toMap(EnvVar::getName, e -> e));
        assertEquals(r.runId(), env.get("LAUNCH_RUN_ID").getValue());
        assertEquals("{\"lr\":0.1}", env.get("LAUNCH_INPUTS").getValue());
        assertEquals("wandb", env.get("WANDB_API_KEY").getValueFrom().getSecretKeyRef().getName(),
                "a Secret is passed by reference, its value never read");

        cluster.creating(pod);
        seen.awaitEvent("progressed: creating the container");
        cluster.running(pod);
        seen.awaitLast("running");
        cluster.log(pod, "epoch 1");
        cluster.log(pod, "epoch 2");
        await().atMost(20, TimeUnit.SECONDS).until(() -> seen.lines.size() == 2);
        cluster.log(pod, "saved model");
        cluster.terminated(pod, 0, "Completed");
        seen.awaitLast("exited 0");
        assertEquals(List.of("epoch 1", "epoch 2", "saved model"), seen.lines, "each line once, in order");
        assertEquals(seen.positions.stream().sorted().toList(), seen.positions);
        await().atMost(20, TimeUnit.SECONDS).until(() -> cluster.jobs(r.runId()).isEmpty());
    }

    @Test
    void aNonZeroExitIsReportedWithItsCodeAndTheLastLinesOfTheCrashedContainer() throws Exception {
        RunRequest r = run(null);
        Seen seen = submit(r);
        Pod pod = podOf(r);
        cluster.running(pod);
        seen.awaitLast("running");
        cluster.log(pod, "Traceback (most recent call last):");
        cluster.log(pod, "ValueError: bad shape");
        cluster.terminated(pod, 3, "Error");
        seen.awaitLast("exited 3");
        assertEquals(List.of("Traceback (most recent call last):", "ValueError: bad shape"), seen.lines);
    }

    @Test
    void anOomKilledContainerFailsTheRunInStageRunWithItsExitCode() throws Exception {
        RunRequest r = run(null);
        Seen seen = submit(r);
        Pod pod = podOf(r);
        cluster.running(pod);
        seen.awaitLast("running");
        cluster.terminated(pod, 137, "OOMKilled");
        seen.awaitLast("failed run 137: OOMKilled");
    }

    @Test
    void anImageThatCannotBePulledIsExplainedThenFailsInStageTargetAfterTheWait() throws Exception {
        RunRequest r = run(null);
        Seen seen = submit(r);
        Pod pod = podOf(r);
        cluster.waiting(pod, "ImagePullBackOff", "Back-off pulling image \"registry.local/trainer:1\"");
        seen.awaitEvent("progressed: cannot pull image registry.local/trainer:1: ImagePullBackOff");
        assertFalse(seen.last().startsWith("failed"), "not before the wait");
        seen.awaitLast("failed target null: cannot pull image registry.local/trainer:1: ImagePullBackOff");
        assertFalse(seen.events.contains("running"));
        await().atMost(20, TimeUnit.SECONDS).until(() -> cluster.jobs(r.runId()).isEmpty());
    }

    @Test
    void aMissingSecretKeyIsExplainedThenFailsInStageTarget() throws Exception {
        RunRequest r = run(null);
        Seen seen = submit(r);
        Pod pod = podOf(r);
        cluster.waiting(pod, "CreateContainerConfigError", "couldn't find key password in Secret team-a/wandb");
        seen.awaitEvent("progressed: CreateContainerConfigError (couldn't find key password");
        seen.awaitLast("failed target null: CreateContainerConfigError");
    }

    @Test
    void aJobWhosePodIsRefusedSaysWhyThenFailsInStageTarget() throws Exception {
        cluster.refusePods = "pods \"x\" is forbidden: exceeded quota: gpu-quota, requested: nvidia.com/gpu=1, "
                + "used: nvidia.com/gpu=8, limited: nvidia.com/gpu=8";
        try {
            RunRequest r = run(null);
            Seen seen = submit(r);
            seen.awaitEvent("progressed: the Job cannot create its pod: pods \"x\" is forbidden: exceeded quota");
            seen.awaitLast("failed target null: the Job cannot create its pod: pods \"x\" is forbidden");
            assertTrue(cluster.pods(r.runId()).isEmpty());
        } finally {
            cluster.refusePods = null;
        }
    }

    @Test
    void aVolumeThatCannotBeMountedIsExplainedThenFailsInStageTarget() throws Exception {
        RunRequest r = run(null);
        Seen seen = submit(r);
        Pod pod = podOf(r);
        cluster.creating(pod);
        seen.awaitEvent("progressed: creating the container");
        cluster.failedMount(pod, "MountVolume.SetUp failed for volume \"data\": persistentvolumeclaim \"nfs-pvc\" not found");
        seen.awaitEvent("progressed: FailedMount: MountVolume.SetUp failed for volume \"data\"");
        seen.awaitLast("failed target null: FailedMount: MountVolume.SetUp failed");
    }

    @Test
    void anUnschedulablePodKeepsTheRunStartingWithTheSchedulersMessage() throws Exception {
        RunRequest r = run(null);
        Seen seen = submit(r);
        Pod pod = podOf(r);
        cluster.unschedulable(pod, "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.");
        seen.awaitLast("progressed: unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.");
        // it is not a stuck state: only the queue's start timeout (the agent's) ends it
        await().pollDelay(FAILURE_WAIT.plusMillis(500)).atMost(FAILURE_WAIT.plusSeconds(5)).until(() -> true);
        assertTrue(seen.last().startsWith("progressed: unschedulable"), seen.events.toString());
        cluster.running(pod);
        seen.awaitLast("running");
    }

    @Test
    void aDisruptionConditionBeforeTheJobsFailureIsAPreemptionAtOnce() throws Exception {
        RunRequest r = run(null);
        Seen seen = submit(r);
        Pod pod = podOf(r);
        cluster.running(pod);
        seen.awaitLast("running");
        cluster.disrupted(pod, "PreemptionByScheduler", "preempted by a higher-priority pod");
        seen.awaitLast("preempted: the pod was evicted (PreemptionByScheduler: preempted by a higher-priority pod)");
        assertEquals(1, seen.events.stream().filter(e -> e.startsWith("preempted") || e.startsWith("failed")
                || e.startsWith("exited")).count(), seen.events.toString());
        await().atMost(20, TimeUnit.SECONDS).until(() -> cluster.jobs(r.runId()).isEmpty());
    }

    @Test
    void theJobsFailureBeforeTheDisruptionConditionIsAPreemptionToo() throws Exception {
        RunRequest r = run(null);
        Seen seen = submit(r);
        Pod pod = podOf(r);
        cluster.running(pod);
        seen.awaitLast("running");
        cluster.jobCondition(pod, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit");
        cluster.disrupted(pod, "DeletionByTaintManager", "node drained");
        seen.awaitLast("preempted: the pod was evicted (DeletionByTaintManager: node drained)");
    }

    @Test
    void aStoppedRunStaysStoppingUntilItsPodsAreGone() throws Exception {
        RunRequest r = run(null);
        Seen seen = submit(r);
        Pod pod = podOf(r);
        cluster.running(pod);
        seen.awaitLast("running");
        cluster.podDeletionDelayMs = 1500;
        try {
            target.stop(handle(r));
            await().atMost(20, TimeUnit.SECONDS).until(() -> cluster.jobs(r.runId()).isEmpty());
            assertFalse(cluster.pods(r.runId()).isEmpty(), "the pod is still terminating");
            assertEquals("running", seen.last(), "not stopped while its pod is still there");
            seen.awaitLast("stopped");
            assertTrue(cluster.pods(r.runId()).isEmpty());
        } finally {
            cluster.podDeletionDelayMs = 500;
        }
    }

    @Test
    void aJobDeletedOutsideLaunchFailsTheRunInStageTarget() throws Exception {
        RunRequest r = run(null);
        Seen seen = submit(r);
        Pod pod = podOf(r);
        cluster.running(pod);
        seen.awaitLast("running");
        cluster.client().batch().v1().jobs().inNamespace("team-a").withName(handle(r)).delete();
        seen.awaitLast("failed target null: Job team-a/" + handle(r) + " was deleted outside Launch");
    }

    @Test
    void anotherAgentAdoptsARunningJobAndReadsOnFromTheLastShippedLine() throws Exception {
        RunRequest r = run(null);
        Seen first = submit(r);
        Pod pod = podOf(r);
        cluster.running(pod);
        first.awaitLast("running");
        cluster.log(pod, "before 1");
        cluster.log(pod, "before 2");
        await().atMost(20, TimeUnit.SECONDS).until(() -> first.lines.size() == 2);
        target.close(); // the agent is gone; its Job is not
        cluster.log(pod, "while nobody watched");
        assertEquals(1, cluster.jobs(r.runId()).size());

        KubernetesTarget adopter = target();
        others.add(adopter);
        Seen second = new Seen();
        adopter.attach(r, handle(r), first.positions.get(1), second);
        second.awaitLast("running");
        cluster.log(pod, "after");
        assertEquals(1, cluster.jobs(r.runId()).size(), "one Job for the attempt");
        cluster.terminated(pod, 0, "Completed");
        second.awaitLast("exited 0");
        assertEquals(List.of("while nobody watched", "after"), second.lines, "each line once across owners");
        assertFalse(second.events.contains("launching"), "nothing submitted again");
    }

    @Test
    void aJobThatVanishedWhileNoAgentWatchedFailsInStageTarget() throws Exception {
        RunRequest r = run(null);
        Seen seen = new Seen();
        target.attach(r, handle(r), -1, seen);
        seen.awaitLast("failed target null: Job team-a/" + handle(r) + " is gone from the cluster");
    }

    @Test
    void anItemTakenAgainAfterItsJobWasCreatedIsWatchedNotCreatedTwice() throws Exception {
        RunRequest r = run(null);
        submit(r);
        Pod pod = podOf(r);
        target.close(); // the agent died after the create; its item is taken again
        KubernetesTarget again = target();
        others.add(again);
        Seen seen = new Seen();
        again.submit(r, handle(r), seen);
        cluster.running(pod);
        seen.awaitLast("running");
        assertEquals(1, cluster.jobs(r.runId()).size());
        assertEquals(1, cluster.pods(r.runId()).size());
    }

    @Test
    void aJobOfTheSameNameThatIsNotThisAttemptsIsLeftAlone() throws Exception {
        RunRequest r = run(null);
        cluster.client().batch().v1().jobs().inNamespace("team-a").resource(new io.fabric8.kubernetes.api.model.batch.v1
                .JobBuilder().withNewMetadata().withName(handle(r)).addToLabels("launch.installation", "another")
                .endMetadata().withNewSpec().withNewTemplate().withNewSpec().addNewContainer().withName("x")
                .withImage("x").endContainer().endSpec().endTemplate().endSpec().build()).create();
        Seen seen = submit(r);
        seen.awaitLast("failed target null: a Job named " + handle(r) + " exists in namespace team-a and is not");
        assertEquals("another", cluster.client().batch().v1().jobs().inNamespace("team-a").withName(handle(r)).get()
                .getMetadata().getLabels().get("launch.installation"));
    }

    @Test
    void aManifestRefusedOnceFilledFailsInStageTargetWithoutACreate() throws Exception {
        RunRequest r = run("{\"spec\": {\"template\": {\"spec\": {\"hostNetwork\": true}}}}");
        Seen seen = submit(r);
        seen.awaitLast("failed target null: the queue's manifest is refused");
        assertTrue(seen.last().contains("hostNetwork"), seen.last());
        assertTrue(cluster.jobs(r.runId()).isEmpty());
    }

    private static final String PYTORCH = """
            {"kubernetes": {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
              "metadata": {"name": "${run_id}-pytorch-job"},
              "spec": {"pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {"containers": [
                  {"name": "pytorch", "image": "<DOCKER_IMAGE>"}]}}},
                "Worker": {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {"containers": [
                  {"name": "pytorch", "image": "<DOCKER_IMAGE>"}]}}}}}}}""";

    private static Map<String, Object> conditions(String type) {
        return Map.of("conditions", List.of(Map.of("type", "Created", "status", "True"),
                Map.of("type", type, "status", "True", "reason", "PyTorchJob" + type, "message", "the job is " + type)));
    }

    private static List<Pod> podsOf(RunRequest r, int count) {
        await().atMost(20, TimeUnit.SECONDS).pollInterval(50, TimeUnit.MILLISECONDS)
                .until(() -> cluster.pods(r.runId()).size() == count);
        return cluster.pods(r.runId()).stream().sorted(java.util.Comparator.comparing(p -> p.getMetadata().getName()))
                .toList();
    }

    @Test
    void aPyTorchJobIsMadeWatchedByItsConditionsAndItsPodsOutputIsShippedWithTheirNames() throws Exception {
        RunRequest r = run(PYTORCH);
        Seen seen = submit(r);
        List<Pod> pods = podsOf(r, 2);
        var made = cluster.custom("kubeflow.org/v1", "PyTorchJob", r.runId());
        assertEquals(1, made.size());
        assertEquals(handle(r), made.get(0).getMetadata().getName(), "the config's name is replaced by the handle");
        assertEquals("test-installation", made.get(0).getMetadata().getLabels().get("launch.installation"));
        for (Pod pod : pods) {
            assertEquals(r.runId(), pod.getMetadata().getLabels().get("launch.run-id"), "each template is labelled");
            assertEquals("registry.local/trainer:1", pod.getSpec().getContainers().get(0).getImage());
            assertTrue(pod.getSpec().getContainers().get(0).getEnv().stream()
                    .anyMatch(e -> e.getName().equals("LAUNCH_RUN_ID") && e.getValue().equals(r.runId())));
        }
        seen.awaitEvent("progressed: waiting to be scheduled");
        pods.forEach(cluster::running);
        cluster.customStatus("kubeflow.org/v1", "PyTorchJob", "team-a", handle(r), conditions("Running"));
        seen.awaitLast("running");
        cluster.log(pods.get(0), "master up");
        cluster.log(pods.get(1), "worker up");
        await().atMost(20, TimeUnit.SECONDS).until(() -> seen.lines.size() == 2);
        assertEquals(Set.of("[" + pods.get(0).getMetadata().getName() + "] master up",
                "[" + pods.get(1).getMetadata().getName() + "] worker up"), Set.copyOf(seen.lines));
        pods.forEach(p -> cluster.terminated(p, 0, "Completed"));
        cluster.customStatus("kubeflow.org/v1", "PyTorchJob", "team-a", handle(r), conditions("Succeeded"));
        seen.awaitLast("exited 0");
        await().atMost(20, TimeUnit.SECONDS).until(() -> cluster.custom("kubeflow.org/v1", "PyTorchJob", r.runId())
                .isEmpty());
    }

    @Test
    void aFailedPyTorchJobWithAnOomKilledWorkerFailsTheRunInStageRun() throws Exception {
        RunRequest r = run(PYTORCH);
        Seen seen = submit(r);
        List<Pod> pods = podsOf(r, 2);
        pods.forEach(cluster::running);
        cluster.customStatus("kubeflow.org/v1", "PyTorchJob", "team-a", handle(r), conditions("Running"));
        seen.awaitLast("running");
        cluster.terminated(pods.get(1), 137, "OOMKilled");
        cluster.customStatus("kubeflow.org/v1", "PyTorchJob", "team-a", handle(r), conditions("Failed"));
        seen.awaitLast("failed run 137: OOMKilled: a container of pod " + pods.get(1).getMetadata().getName());
    }

    private static RunRequest sourced(JobSource source) {
        ObjectNode target = Events.MAPPER.createObjectNode().put("type", "kubernetes").put("namespace", "team-a");
        return new RunRequest(RunIds.next(), "gpu", "train", 3, "sha256:x", source, List.of("sh", "train.sh"),
                Events.MAPPER.createObjectNode(), target, 1, 1, null, Instant.now(), null);
    }

    private KubernetesTarget withSnapshots() {
        KubernetesTarget t = new KubernetesTarget();
        t.use(cluster.client(), "test-installation", FAILURE_WAIT, Duration.ofDays(1), Duration.ofMinutes(5),
                new Workloads.Sources("python:3.12-slim", "busybox:1.36", "alpine/git:2.45.2",
                        java.util.Optional.of("http://jobs.launch.svc:8081/")));
        others.add(t);
        return t;
    }

    @Test
    void aCodeJobRunsInTheBaseImageWithItsSnapshotFetchedByAnInitContainer() throws Exception {
        RunRequest r = sourced(new JobSource(JobSource.CODE, null, null, null, null, "/src", "/store/sha256-x"));
        Seen seen = new Seen();
        withSnapshots().submit(r, handle(r), seen);
        Pod pod = podOf(r);
        var spec = cluster.jobs(r.runId()).get(0).getSpec().getTemplate().getSpec();
        var fetch = spec.getInitContainers().get(0);
        assertEquals("launch-fetch-code", fetch.getName());
        assertEquals("busybox:1.36", fetch.getImage());
        assertEquals("http://jobs.launch.svc:8081/api/v1/jobs/train/versions/3/snapshot", fetch.getEnv().get(0).getValue());
        assertTrue(fetch.getCommand().get(2).contains("tar -xz -C /workspace"), fetch.getCommand().toString());
        var main = spec.getContainers().get(0);
        assertEquals("python:3.12-slim", main.getImage());
        assertEquals("/workspace", main.getWorkingDir());
        assertEquals("/workspace", main.getVolumeMounts().get(0).getMountPath());
        assertTrue(main.getEnv().stream().anyMatch(e -> e.getName().equals("LAUNCH_WORKSPACE")));
        assertNotNull(spec.getVolumes().get(0).getEmptyDir());
        // the fetch fails: the run fails in stage build, before anything of the job ran
        cluster.client().pods().inNamespace("team-a").withName(pod.getMetadata().getName()).editStatus(p -> {
            p.getStatus().setInitContainerStatuses(List.of(new io.fabric8.kubernetes.api.model.ContainerStatusBuilder()
                    .withName("launch-fetch-code").withNewState().withNewTerminated().withExitCode(1).withReason("Error")
                    .endTerminated().endState().build()));
            p.getStatus().setPhase("Failed");
            return p;
        });
        seen.awaitLast("failed build null: fetching the job's code in the pod failed (init container exited with 1");
        assertFalse(seen.events.contains("running"));
    }

    @Test
    void aGitJobsCommitIsCheckedOutByAnInitContainer() throws Exception {
        RunRequest r = sourced(new JobSource(JobSource.GIT, null, "https://github.com/acme/train.git", "main",
                "0123456789abcdef0123456789abcdef01234567", null, null));
        withSnapshots().submit(r, handle(r), new Seen());
        podOf(r);
        var fetch = cluster.jobs(r.runId()).get(0).getSpec().getTemplate().getSpec().getInitContainers().get(0);
        assertEquals("launch-fetch-git", fetch.getName());
        assertEquals("alpine/git:2.45.2", fetch.getImage());
        Map<String, String> env = fetch.getEnv().stream().collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue));
        assertEquals("https://github.com/acme/train.git", env.get("LAUNCH_GIT_REMOTE"));
        assertEquals("0123456789abcdef0123456789abcdef01234567", env.get("LAUNCH_GIT_COMMIT"));
    }

    @Test
    void aCodeJobWithoutASnapshotUrlFailsInStageBuildWithoutACreate() throws Exception {
        RunRequest r = sourced(new JobSource(JobSource.CODE, null, null, null, null, "/src", "/store/sha256-x"));
        Seen seen = submit(r);
        seen.awaitLast("failed build null: a code job runs on Kubernetes from its snapshot");
        assertTrue(seen.last().contains("LAUNCH_KUBERNETES_SNAPSHOT_URL"));
        assertTrue(cluster.jobs(r.runId()).isEmpty());
    }

    @Test
    void aClusterThatCannotBeReachedFailsTheRunSayingSoAndALaterRunTriesAgain() throws Exception {
        int closed;
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
            closed = socket.getLocalPort();
        }
        KubernetesTarget nowhere = new KubernetesTarget();
        others.add(nowhere);
        try (var client = KubernetesTarget.clientFor(java.util.Optional.of("http://127.0.0.1:" + closed))) {
            nowhere.use(client, "test-installation", FAILURE_WAIT, Duration.ofDays(1), Duration.ofMinutes(5));
            for (int i = 0; i < 2; i++) {
                RunRequest r = run(null);
                Seen seen = new Seen();
                nowhere.submit(r, handle(r), seen);
                seen.awaitLast("failed target null: the run's namespace team-a cannot be watched: the Kubernetes API "
                        + "server at http://127.0.0.1:" + closed);
                assertFalse(seen.events.contains("launching"), "nothing was recorded as started");
            }
        }
    }
}
