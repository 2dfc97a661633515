package dev.launch.queue.rest;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Body of {@code PATCH /api/v1/queues/{name}}: the fields to change; absent fields stay as they are. The
 * target cannot change (giving the same one is allowed).
 */
public record UpdateQueueRequest(ObjectNode target, ObjectNode config, ObjectNode templateVariables,
                                 Boolean prioritization, Boolean lockdown, Integer maxAttempts, String startTimeout) {
}
