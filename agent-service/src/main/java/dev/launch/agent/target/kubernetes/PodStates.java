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

    private static ContainerStatus status(Pod pod, String container) {
        if (pod.getStatus() == null || pod.getStatus().getContainerStatuses() == null) {
            return null;
        }
        return pod.getStatus().getContainerStatuses().stream().filter(s -> container.equals(s.getName())).findFirst()
                .orElse(null);
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
