package dev.launch.queue.rest;

import java.util.List;

/**
 * Body of {@code POST /api/v1/queues/{name}/runs:batch}: up to {@link #MAX_RUNS} runs, each as the body of a
 * single enqueue, queued in one transaction: all of them or none.
 *
 * @param runs the runs, in the order they are queued
 */
public record BatchEnqueueRequest(List<EnqueueRequest> runs) {
    /** The most runs one batch takes. */
    public static final int MAX_RUNS = 1000;
}
