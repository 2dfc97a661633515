package dev.launch.queue.rest;

/**
 * Answer to an accepted enqueue (202).
 *
 * @param runId    the run's id, for {@code GET /api/v1/runs/{runId}} on the status service
 * @param queue    the queue
 * @param job      {@code name:version} the run will execute
 * @param state    always {@code QUEUED}
 * @param position runs ahead of this one in the queue when it was accepted
 */
public record EnqueueResponse(String runId, String queue, String job, String state, long position) {
}
