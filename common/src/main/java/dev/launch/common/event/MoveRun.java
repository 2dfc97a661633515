package dev.launch.common.event;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * Payload of the {@code MoveRun} command on {@code launch.run-commands}: a run's item {@code fromItem} is
 * replaced by {@code toItem}, written at the tail of the level {@code priority} in the same Kafka transaction.
 * Whether the move holds is decided by the order of the run's records on {@code launch.run-commands}; see
 * {@code dev.launch.messaging.RunCommandLedger}.
 *
 * @param runId        the run (also the record key)
 * @param queue        the run's queue
 * @param fromItem     the item being replaced
 * @param toItem       the new item
 * @param priority     the new item's level (absent on a queue without priorities)
 * @param requestedBy  who asked (e.g. {@code api})
 * @param releasedFrom set when the move hands back a run of a lost agent: the agent
 * @param attempt      set when the move retries a run the lost agent had started: the new item's attempt
 *                     (absent for a hand-back of a run never started, which keeps its attempt)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record MoveRun(String runId, String queue, String fromItem, String toItem, String priority,
                      String requestedBy, String releasedFrom, Integer attempt) {

    /** A reprioritization (no release). */
    public MoveRun(String runId, String queue, String fromItem, String toItem, String priority, String requestedBy) {
        this(runId, queue, fromItem, toItem, priority, requestedBy, null, null);
    }

    /** A hand-back of a run {@code releasedFrom} took but never started. */
    public MoveRun(String runId, String queue, String fromItem, String toItem, String priority, String requestedBy,
                   String releasedFrom) {
        this(runId, queue, fromItem, toItem, priority, requestedBy, releasedFrom, null);
    }

    /** Whether this move retries a started run as a new attempt. */
    public boolean retry() {
        return attempt != null;
    }
}
