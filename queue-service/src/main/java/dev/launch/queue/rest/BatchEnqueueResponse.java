package dev.launch.queue.rest;

import java.util.List;

/**
 * Answer to an accepted batch enqueue (202).
 *
 * @param queue            the queue
 * @param queued           how many runs this batch queued (runs whose idempotency key was answered before are
 *                         answered again and not queued twice)
 * @param runs             one answer per run of the request, in its order, each as a single enqueue's 202
 * @param consistencyToken covers every run of the batch (the {@code Launch-Consistency} header, ADR 0004)
 */
public record BatchEnqueueResponse(String queue, int queued, List<EnqueueResponse> runs, String consistencyToken) {
}
