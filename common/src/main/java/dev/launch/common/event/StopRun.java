package dev.launch.common.event;

/**
 * Payload of the {@code StopRun} command on {@code launch.run-commands}.
 *
 * @param runId       the run to stop (also the record key)
 * @param queue       the run's queue, so agents can tell whether it is theirs
 * @param reason      why, in words shown in the run's history
 * @param requestedBy who asked (e.g. {@code api})
 */
public record StopRun(String runId, String queue, String reason, String requestedBy) {
}
