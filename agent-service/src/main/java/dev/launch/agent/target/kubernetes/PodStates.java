package dev.launch.agent.target.kubernetes;

import io.fabric8.kubernetes.api.model.ContainerStateTerminated;
import io.fabric8.kubernetes.api.model.ContainerStateWaiting;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobCondition;

import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What a Job and its pods, as the informers last saw them, say about a run attempt (see DESIGN.md beside this
 * class). A pure function, so every mapping is tested without a cluster.
 */
final class PodStates {
    /** Waiting reasons that do not clear by themselves: the run fails after the agent's failure wait. */
    static final Set<String> STUCK = Set.of("ErrImagePull", "ImagePullBackOff", "InvalidImageName",
            "CreateContainerConfigError", "CreateContainerError", "CrashLoopBackOff", "RunContainerError");
    private static final Set<String> IMAGE = Set.of("ErrImagePull", "ImagePullBackOff", "InvalidImageName");

    private PodStates() {
    }

    /** One reading of an attempt's state. */
    interface Observation {
    }

    /** Not running yet, or waiting: the reason shown as the run's pendingReason; {@code stuck}: fails if it lasts. */
    record Progress(String reason, boolean stuck) implements Observation {
    }

    record Running() implements Observation {
    }

    record Exited(int exitCode, boolean started) implements Observation {
    }

    record Failed(String stage, String reason, Integer exitCode, boolean started) implements Observation {
    }

    record Preempted(String reason) implements Observation {
    }

    /** The Job failed but its pod's last state has not been seen yet (it decides OOM, preemption, exit code). */
    record Undecided(String jobReason) implements Observation {
    }

    static Observation of(Job job, List<Pod> pods, String container) {
        return of(job, pods, container, null, null);
    }

    /**
     * @param failedCreate the message of the Job's last {@code FailedCreate} event (a quota, an admission webhook
     *                     refused its pod), or null
     * @param failedMount  the message of the newest pod's last {@code FailedMount} event (a missing volume or
     *                     Secret), or null
     */
    static Observation of(Job job, List<Pod> pods, String container, String failedCreate, String failedMount) {
        for (Pod pod : pods) {
            Optional<PodCondition> disruption = condition(pod, "DisruptionTarget");
            if (disruption.isPresent()) {
                PodCondition c = disruption.get();
                return new Preempted("the pod was evicted (" + c.getReason()
                        + (c.getMessage() == null ? "" : ": " + c.getMessage()) + ")");
            }
        }
        Pod pod = pods.stream().max(Comparator.comparing(p -> p.getMetadata().getCreationTimestamp() == null ? ""
                : p.getMetadata().getCreationTimestamp())).orElse(null);
        ContainerStatus main = pod == null ? null : status(pod, container);
        ContainerStateTerminated ended = main == null || main.getState() == null ? null : main.getState().getTerminated();
        if (ended == null && main != null && main.getLastState() != null) {
            ended = main.getLastState().getTerminated(); // restarted (OnFailure): its last end
        }
        Optional<JobCondition> complete = jobCondition(job, "Complete");
        if (complete.isPresent()) {
            return new Exited(0, true);
        }
        if (pod != null) {
            Optional<ContainerStateTerminated> fetch = failedInit(pod);
            if (fetch.isPresent()) {
                ContainerStateTerminated t = fetch.get();
                return new Failed("build", "fetching the job's code in the pod failed (init container exited with "
                        + t.getExitCode() + (t.getReason() == null ? "" : ", " + t.getReason())
                        + (t.getMessage() == null ? "" : ": " + t.getMessage()) + ")", null, false);
            }
        }
        Optional<JobCondition> failed = jobCondition(job, "Failed");
        if (failed.isPresent()) {
            JobCondition c = failed.get();
            String why = c.getReason() + (c.getMessage() == null ? "" : ": " + c.getMessage());
            if ("DeadlineExceeded".equals(c.getReason())) {
                return new Failed("run", "the Job ran past its activeDeadlineSeconds (" + why + ")",
                        ended == null ? null : ended.getExitCode(), ended != null);
            }
            if (ended != null && "OOMKilled".equals(ended.getReason())) {
                return new Failed("run", "OOMKilled: the container went over its memory limit", ended.getExitCode(),
                        true);
            }
            if (ended != null && ended.getExitCode() != null && ended.getExitCode() != 0) {
                return new Exited(ended.getExitCode(), true);
            }
            if (pod != null && !"Failed".equals(pod.getStatus() == null ? null : pod.getStatus().getPhase())) {
                return new Undecided(why);
            }
            return new Failed("target", "the Job failed: " + why, ended == null ? null : ended.getExitCode(),
                    ended != null);
        }
        if (pod == null) {
            if (failedCreate != null) {
                return new Progress("the Job cannot create its pod: " + failedCreate, true);
            }
            if (job != null && job.getSpec() != null && Boolean.TRUE.equals(job.getSpec().getSuspend())) {
                String kueue = job.getMetadata().getLabels() == null ? null
                        : job.getMetadata().getLabels().get("kueue.x-k8s.io/queue-name");
                return new Progress("suspended: waiting to be admitted" + (kueue == null ? "" : " by Kueue queue "
                        + kueue), false);
            }
            return new Progress("waiting for the Job's pod to be created", false);
        }
        String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
        ContainerStateWaiting waiting = main == null || main.getState() == null ? null : main.getState().getWaiting();
        if (waiting != null && STUCK.contains(waiting.getReason())) {
            String what = IMAGE.contains(waiting.getReason()) ? "cannot pull image " + main.getImage() + ": " : "";
            return new Progress(what + waiting.getReason() + (waiting.getMessage() == null ? ""
                    : " (" + waiting.getMessage() + ")"), true);
        }
        if ("Running".equals(phase) && main != null && main.getState() != null && main.getState().getRunning() != null) {
            return new Running();
        }
        if ("Running".equals(phase) || "Succeeded".equals(phase) || "Failed".equals(phase)) {
            if (ended != null && "OOMKilled".equals(ended.getReason())) {
                return new Progress("OOMKilled; waiting for the Job's verdict", false);
            }
            return ended != null || "Running".equals(phase) ? new Running()
                    : new Progress("the pod is " + phase + "; waiting for the Job's verdict", false);
        }
        if (failedMount != null && (waiting == null || "ContainerCreating".equals(waiting.getReason()))) {
            return new Progress("FailedMount: " + failedMount, true);
        }
        Optional<PodCondition> scheduled = condition(pod, "PodScheduled", "False");
        if (scheduled.isPresent()) {
            PodCondition c = scheduled.get();
            return new Progress(("Unschedulable".equals(c.getReason()) ? "unschedulable: " : "not scheduled yet: ")
                    + (c.getMessage() == null ? c.getReason() : c.getMessage()), false);
        }
        if (waiting != null && waiting.getReason() != null) {
            return new Progress(switch (waiting.getReason()) {
                case "ContainerCreating" -> "creating the container (pulling image " + main.getImage() + ")";
                case "PodInitializing" -> "running the pod's init containers";
                default -> waiting.getReason() + (waiting.getMessage() == null ? "" : ": " + waiting.getMessage());
            }, false);
        }
        String node = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
        return new Progress(node == null ? "waiting to be scheduled" : "scheduled on " + node + "; starting", false);
    }

    /**
     * A custom workload (a PyTorchJob, a Volcano Job): its own status says whether it ran, succeeded or failed
     * ({@code verdict}, read by the queue's {@link dev.launch.targetconfig.StatusRule}); its pods say why it waits,
     * whether one was preempted, and the exit code or OOM kill behind a failure.
     */
    static Observation ofCustom(dev.launch.targetconfig.StatusRule.Verdict verdict, String kind, List<Pod> pods,
                                String container) {
        for (Pod pod : pods) {
            Optional<PodCondition> disruption = condition(pod, "DisruptionTarget");
            if (disruption.isPresent()) {
                PodCondition c = disruption.get();
                return new Preempted("a pod of the " + kind + " was evicted (" + c.getReason()
                        + (c.getMessage() == null ? "" : ": " + c.getMessage()) + ")");
            }
        }
        if ("succeeded".equals(verdict.outcome())) {
            return new Exited(0, true);
        }
        if ("failed".equals(verdict.outcome())) {
            for (Pod pod : pods) {
                ContainerStatus main = status(pod, container);
                ContainerStateTerminated ended = main == null || main.getState() == null ? null
                        : main.getState().getTerminated();
                if (ended != null && "OOMKilled".equals(ended.getReason())) {
                    return new Failed("run", "OOMKilled: a container of pod " + pod.getMetadata().getName()
                            + " went over its memory limit", ended.getExitCode(), true);
                }
            }
            for (Pod pod : pods) {
                ContainerStatus main = status(pod, container);
                ContainerStateTerminated ended = main == null || main.getState() == null ? null
                        : main.getState().getTerminated();
                if (ended != null && ended.getExitCode() != null && ended.getExitCode() != 0) {
                    return new Exited(ended.getExitCode(), true);
                }
            }
            return new Failed("target", "the " + kind + " failed: " + verdict.reason(), null, !pods.isEmpty());
        }
        if ("running".equals(verdict.outcome())) {
            return new Running();
        }
        if (pods.isEmpty()) {
            return new Progress("waiting for the " + kind + "'s pods to be created"
                    + (verdict.reason() == null ? "" : " (" + verdict.reason() + ")"), false);
        }
        Observation fromPods = of(null, pods, container, null, null);
        return fromPods instanceof Progress || fromPods instanceof Running ? fromPods
                : new Progress("waiting for the " + kind + "'s verdict", false);
    }

    /** Launch's own init container (it fetches a code or git job's code) ended with a non-zero exit code. */
    private static Optional<ContainerStateTerminated> failedInit(Pod pod) {
        if (pod.getStatus() == null || pod.getStatus().getInitContainerStatuses() == null) {
            return Optional.empty();
        }
        return pod.getStatus().getInitContainerStatuses().stream()
                .filter(s -> s.getName() != null && s.getName().startsWith("launch-fetch-"))
                .map(s -> s.getState() == null ? null : s.getState().getTerminated())
                .filter(t -> t != null && t.getExitCode() != null && t.getExitCode() != 0).findFirst();
    }

    /** The status of {@code container}, else of the pod's first container (task templates name theirs apart). */
    private static ContainerStatus status(Pod pod, String container) {
        if (pod.getStatus() == null || pod.getStatus().getContainerStatuses() == null
                || pod.getStatus().getContainerStatuses().isEmpty()) {
            return null;
        }
        return pod.getStatus().getContainerStatuses().stream().filter(s -> container.equals(s.getName())).findFirst()
                .orElse(pod.getStatus().getContainerStatuses().get(0));
    }

    private static Optional<PodCondition> condition(Pod pod, String type) {
        return condition(pod, type, "True");
    }

    private static Optional<PodCondition> condition(Pod pod, String type, String status) {
        if (pod.getStatus() == null || pod.getStatus().getConditions() == null) {
            return Optional.empty();
        }
        return pod.getStatus().getConditions().stream()
                .filter(c -> type.equals(c.getType()) && status.equals(c.getStatus())).findFirst();
    }

    private static Optional<JobCondition> jobCondition(Job job, String type) {
        if (job == null || job.getStatus() == null || job.getStatus().getConditions() == null) {
            return Optional.empty();
        }
        return job.getStatus().getConditions().stream()
                .filter(c -> type.equals(c.getType()) && "True".equals(c.getStatus())).findFirst();
    }
}
