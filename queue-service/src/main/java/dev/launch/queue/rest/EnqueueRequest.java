package dev.launch.queue.rest;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;

/**
 * Body of {@code POST /api/v1/queues/{name}/runs}.
 *
 * @param job               {@code name} (latest version) or {@code name:version}
 * @param inputs            overlaid on the job's default inputs, then checked against its schema
 * @param args              appended to the entrypoint
 * @param entrypoint        replaces the job's entrypoint
 * @param templateVariables values for the queue's declared variables
 * @param priority          {@code critical|high|medium|low}, on queues with prioritization
 * @param idempotencyKey    a retry with the same key returns the original run
 */
public record EnqueueRequest(String job, ObjectNode inputs, List<String> args, List<String> entrypoint,
                             ObjectNode templateVariables, String priority, String idempotencyKey) {
}
