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
     * @param position the line's place in the attempt's output on the target (0, 1, 2 ...; a Kubernetes pod's
     *                 lines: their timestamps in ns), so lines read again by another agent after an adoption are
     *                 stored once; absent in older batches
     * @param source   which of the attempt's processes wrote it when it has several (a pod's name); positions
     *                 are in order within one stream of one source
     */
    @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
    public record Line(String stream, Instant at, String text, Long position, String source) {
        public Line(String stream, Instant at, String text) {
            this(stream, at, text, null, null);
        }

        public Line(String stream, Instant at, String text, Long position) {
            this(stream, at, text, position, null);
        }

        /** The order a position is counted in: one stream of one source (a pod) of the attempt. */
        @com.fasterxml.jackson.annotation.JsonIgnore
        public String mark() {
            return source == null ? stream : stream + "/" + source;
        }
    }
}
