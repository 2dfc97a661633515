package dev.launch.common.event;

/**
 * Payload of {@code RunTaken} on {@code launch.run-commands}: an agent took a queue item and will launch it
 * unless the commands before this record say otherwise (a stop, or a move of the item). Keyed by run id, so
 * it lies in one order with every command about the run; see {@link dev.launch.common.run.RunCommandLedger}.
 *
 * @param runId   the run (also the record key)
 * @param queue   the run's queue
 * @param itemId  the item taken (the run id for the item written at enqueue)
 * @param agentId the agent that took it
 */
public record RunTaken(String runId, String queue, String itemId, String agentId) {
}
