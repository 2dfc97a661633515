package dev.launch.common.event;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * Payload of {@code RunTaken} on {@code launch.run-commands}: an agent took a queue item and will launch it
 * unless the commands before this record say otherwise (a stop, or a move of the item). Keyed by run id, so
 * it lies in one order with every command about the run; see {@link dev.launch.common.run.RunCommandLedger}.
 *
 * @param runId   the run (also the record key)
 * @param queue   the run's queue
 * @param itemId  the item taken (the run id for the item written at enqueue)
 * @param agentId the agent that took it
 * @param handle    on {@code RunLaunching}: the work's handle on the target (recorded before the submit)
 * @param adoptable on {@code RunLaunching}: whether the work outlives the agent, so another agent of the queue
 *                  may take it over (a container, a Kubernetes Job) instead of retrying or failing the run
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RunTaken(String runId, String queue, String itemId, String agentId, String handle, Boolean adoptable) {

    /** A take (no handle yet). */
    public RunTaken(String runId, String queue, String itemId, String agentId) {
        this(runId, queue, itemId, agentId, null, null);
    }

    /** Whether the launch record says the work outlives its agent. */
    public boolean outlivesAgent() {
        return Boolean.TRUE.equals(adoptable);
    }
}
