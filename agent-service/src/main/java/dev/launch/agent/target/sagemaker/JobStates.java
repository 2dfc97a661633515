package dev.launch.agent.target.sagemaker;

import dev.launch.common.run.FailureStage;

import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a training job's status says about its run: SageMaker's {@code TrainingJobStatus} and
 * {@code SecondaryStatus} (with its message and {@code FailureReason}) mapped to one observation. A pure function,
 * so every mapping is tested without a server.
 */
final class JobStates {
    private JobStates() {
    }

    /** Secondary statuses of a job that has not started its training code yet. */
    static final Set<String> STARTING = Set.of("Starting", "Pending", "Downloading", "DownloadingTrainingImage",
            "LaunchingMLInstances", "PreparingTrainingStack");
    private static final Pattern EXIT_CODE = Pattern.compile("(?i)exit(?:ed with)? code[:\\s]+(-?\\d+)");

    sealed interface Observation permits Progress, Running, Stopping, Finished, Failed, Stopped, Preempted {
    }

    /** Not running yet; {@code reason} says what SageMaker is doing. */
    record Progress(String reason) implements Observation {
    }

    /** Training (or uploading, or resuming after a spot interruption); {@code reason}: SageMaker's message. */
    record Running(String reason) implements Observation {
    }

    /** Stopping: StopTrainingJob was sent (by Launch, or by someone else). */
    record Stopping(String reason) implements Observation {
    }

    record Finished() implements Observation {
    }

    record Failed(String stage, String reason, Integer exitCode, boolean started) implements Observation {
    }

    /** Stopped after Launch asked it to stop. */
    record Stopped() implements Observation {
    }

    /** Spot capacity was lost for good: the run may be queued again as its next attempt. */
    record Preempted(String reason) implements Observation {
    }

    /**
     * @param stopRequested whether Launch sent StopTrainingJob for this attempt
     * @param trainingSeen  whether the job was seen training (a failure after that is the run's own, or not)
     */
    static Observation of(String status, String secondary, String message, String failureReason,
                          boolean stopRequested, boolean trainingSeen) {
        String said = message == null || message.isBlank() ? secondary : secondary + ": " + message;
        switch (status == null ? "" : status) {
            case "InProgress":
                if ("Interrupted".equals(secondary) || "Restarting".equals(secondary)) {
                    return new Running("spot interruption, SageMaker is resuming (" + said + ")");
                }
                if (secondary != null && STARTING.contains(secondary)) {
                    return new Progress(said);
                }
                if ("Training".equals(secondary) || "Uploading".equals(secondary)) {
                    return new Running(said);
                }
                return trainingSeen ? new Running(said) : new Progress(said);
            case "Stopping":
                return new Stopping(said);
            case "Completed":
                return new Finished();
            case "Failed":
                if ("Interrupted".equals(secondary)) {
                    return new Preempted("the spot instance was interrupted and SageMaker did not resume the job"
                            + (failureReason == null ? "" : " (" + failureReason + ")"));
                }
                return failed(failureReason == null ? said : failureReason, trainingSeen);
            case "Stopped":
                if ("MaxRuntimeExceeded".equals(secondary)) {
                    return new Failed(FailureStage.TARGET.wire(), "max runtime exceeded: SageMaker stopped the "
                            + "job at its StoppingCondition.MaxRuntimeInSeconds" + (message == null ? ""
                            : " (" + message + ")"), null, trainingSeen);
                }
                if ("MaxWaitTimeExceeded".equals(secondary)) {
                    return new Preempted("spot capacity: the job did not finish within "
                            + "StoppingCondition.MaxWaitTimeInSeconds (MaxWaitTimeExceeded)");
                }
                if ("Interrupted".equals(secondary)) {
                    return new Preempted("the spot instance was interrupted and not resumed");
                }
                if (stopRequested) {
                    return new Stopped();
                }
                return new Failed(FailureStage.TARGET.wire(), "the training job was stopped outside Launch "
                        + "(StopTrainingJob from the console, the CLI or another tool)", null, trainingSeen);
            default:
                return new Progress(said);
        }
    }

    /**
     * A Failed job: the run's own failure when SageMaker blames the algorithm (the training code, with its exit
     * code when SageMaker quotes it), the target's otherwise (ClientError: data, permissions or configuration;
     * CapacityError; InternalServerError).
     */
    static Failed failed(String reason, boolean started) {
        Matcher m = EXIT_CODE.matcher(reason);
        Integer code = m.find() ? Integer.valueOf(m.group(1)) : null;
        boolean algorithm = reason.startsWith("AlgorithmError");
        return new Failed(algorithm ? FailureStage.RUN.wire() : FailureStage.TARGET.wire(), reason,
                algorithm ? code : null, started || algorithm);
    }
}
