package dev.launch.common.event;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * Payload of the {@code MoveRun} command on {@code launch.run-commands}: a queued run's item {@code fromItem}
 * is replaced by {@code toItem}, written at the tail of the level {@code priority} in the same Kafka
 * transaction. The move holds only if no agent took {@code fromItem} before this record (in the run's
 * partition of {@code launch.run-commands}); otherwise {@code toItem} is void. See
 * {@link dev.launch.common.run.RunCommandLedger}.
 *
 * @param runId       the run (also the record key)
 * @param queue       the run's queue
 * @param fromItem    the item being replaced
 * @param toItem      the new item
 * @param priority    the new item's level
 * @param requestedBy who asked (e.g. {@code api})
 * @param releasedFrom set when the move hands back a run that agent took but never launched (the agent was
 *                     lost): the move then holds if no {@code RunLaunching} of {@code fromItem} came first,
 *                     whoever took it
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record MoveRun(String runId, String queue, String fromItem, String toItem, String priority,
                      String requestedBy, String releasedFrom) {

    /** A reprioritization (no release). */
    public MoveRun(String runId, String queue, String fromItem, String toItem, String priority, String requestedBy) {
        this(runId, queue, fromItem, toItem, priority, requestedBy, null);
    }
}
