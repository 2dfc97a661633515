package dev.launch.common.event;

import java.time.Instant;
import java.util.List;

/**
 * Payload of {@code RunOutputLogged} on {@code launch.run-logs}: consecutive output lines of one attempt.
 *
 * @param runId   the run (also the record key)
 * @param attempt attempt number
 * @param agentId the agent that captured the lines
 * @param seq     0, 1, 2 ... per run and attempt; with {@code attempt}, identifies the batch (for idempotence)
 * @param lines   the lines, in output order
 */
public record RunLogBatch(String runId, int attempt, String agentId, long seq, List<Line> lines) {

    /**
     * @param stream {@code stdout} or {@code stderr}
     * @param at       when the agent read the line (or the target stamped it)
     * @param text     the line, without its line terminator
     * @param position the line's place in the attempt's output on the target (0, 1, 2 ...), so lines read
     *                 again by another agent after an adoption are stored once; absent in older batches
     */
    @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
    public record Line(String stream, Instant at, String text, Long position) {
        public Line(String stream, Instant at, String text) {
            this(stream, at, text, null);
        }
    }
}
