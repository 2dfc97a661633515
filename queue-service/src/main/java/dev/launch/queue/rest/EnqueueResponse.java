package dev.launch.queue.rest;

/**
 * Answer to an accepted enqueue (202).
 *
 * @param runId    the run's id, for {@code GET /api/v1/runs/{runId}} on the status service
 * @param queue    the queue
 * @param job      {@code name:version} the run will execute
 * @param state    always {@code QUEUED}
 * @param position runs ahead of this one in the queue when it was accepted
 * @param consistencyToken opaque; sent back to the status service as the {@code Launch-Consistency} header, it
 *                 makes a read wait until the read model holds this run (ADR 0004). Also the 202's
 *                 {@code Launch-Consistency} header.
 */
public record EnqueueResponse(String runId, String queue, String job, String state, long position,
                              String consistencyToken) {
    /** The header that carries a consistency token, on the 202 and on reads of the status service. */
    public static final String CONSISTENCY_HEADER = "Launch-Consistency";

}
