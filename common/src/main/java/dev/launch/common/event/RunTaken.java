package dev.launch.common.event;

import com.fasterxml.jackson.annotation.JsonInclude;

import java.time.Instant;

/**
 * Payload of {@code RunTaken} on {@code launch.run-commands}: an agent took a queue item and will launch it
 * unless the commands before this record say otherwise (a stop, or a move of the item). Keyed by run id, so
 * it lies in one order with every command about the run; see {@code dev.launch.messaging.RunCommandLedger}.
 *
 * @param runId       the run (also the record key)
 * @param queue       the run's queue
 * @param itemId      the item taken (the run id for the item written at enqueue)
 * @param agentId     the agent that took it (for a hand-off: the agent it is handed to)
 * @param handle      on {@code RunLaunching}: the work's handle on the target (recorded before the submit)
 * @param adoptable   on {@code RunLaunching}: whether the work outlives the agent, so another agent of the queue
 *                    may take it over (a container, a Kubernetes Job) instead of retrying or failing the run
 * @param handedBy    a hand-off (ADR 0005): the agent holding the queue, which took the item for {@code agentId}
 * @param incarnation a hand-off: the {@code startedAt} of the agent it is handed to (a later incarnation of
 *                    that agent ignores it)
 * @param request     a hand-off: the run request, as the item held it, for the receiving agent to launch
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RunTaken(String runId, String queue, String itemId, String agentId, String handle, Boolean adoptable,
                       String handedBy, Instant incarnation, RunRequest request) {

    /** A take (no handle yet). */
    public RunTaken(String runId, String queue, String itemId, String agentId) {
        this(runId, queue, itemId, agentId, null, null, null, null, null);
    }

    /** A launch record. */
    public RunTaken(String runId, String queue, String itemId, String agentId, String handle, Boolean adoptable) {
        this(runId, queue, itemId, agentId, handle, adoptable, null, null, null);
    }

    /** {@code holder}'s take of {@code request}'s item for {@code agent} (incarnation {@code startedAt}). */
    public static RunTaken handOff(RunRequest request, String agent, Instant startedAt, String holder) {
        return new RunTaken(request.runId(), request.queue(), request.item(), agent, null, null, holder, startedAt,
                request);
    }

    /** Whether the launch record says the work outlives its agent. */
    public boolean outlivesAgent() {
        return Boolean.TRUE.equals(adoptable);
    }

    /** Whether this take was made by the queue's holder for another agent. */
    public boolean handedOver() {
        return handedBy != null && request != null;
    }
}
