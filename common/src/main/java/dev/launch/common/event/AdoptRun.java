package dev.launch.common.event;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * Payload of the {@code AdoptRun} command on {@code launch.run-commands}: the status service asks the agents of
 * the run's queue to take over work that outlived its owner (lost, stopped, or an earlier incarnation of a
 * restarted agent). It holds only if {@code fromAgent} still owns the item in the ledger; then the first
 * {@code RunAdopted} of the item after it wins. See ADR 0002 and
 * {@code dev.launch.messaging.RunCommandLedger}.
 *
 * @param runId       the run (also the record key)
 * @param queue       the run's queue: only its agents answer
 * @param itemId      the item the work was launched from
 * @param attempt     the attempt the work is
 * @param targetType  the target it runs on
 * @param handle      the work's handle on the target ({@code launch-<runId>-<attempt>}, shortened)
 * @param fromAgent   the owner that is gone
 * @param reason      why, in words shown in the run's history
 * @param logPosition the target position of the last output line already stored (absent: none), so an adopter
 *                    reads on from there
 * @param request     the run as queued, so an agent that never saw the item can watch and stop the work
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record AdoptRun(String runId, String queue, String itemId, int attempt, String targetType, String handle,
                       String fromAgent, String reason, Long logPosition, RunRequest request) {
}
