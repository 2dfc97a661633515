package dev.launch.status.repository;

import java.time.Instant;

/**
 * A state change applied to the read model, as streamed by {@code GET /api/v1/runs/{id}/events} and
 * {@code GET /api/v1/runs/changes}.
 *
 * @param runId  the run
 * @param queue  its queue
 * @param state  its new state
 * @param at     when the fact occurred
 * @param reason why, when the fact says
 */
public record RunChange(String runId, String queue, String state, Instant at, String reason) {
}
