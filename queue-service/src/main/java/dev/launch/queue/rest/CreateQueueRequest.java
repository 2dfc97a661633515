package dev.launch.queue.rest;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Body of {@code POST /api/v1/queues}.
 *
 * @param name              queue name
 * @param target            {@code {type, ...}}: {@code local-process} for now
 * @param config            the target's config template (resource args)
 * @param templateVariables {@code {var: {schema, default?, description?}}}, as W&B Launch declares them
 * @param prioritization    whether runs may carry a priority
 * @param lockdown          refuse entrypoint and args overrides
 * @param maxAttempts       attempts per run (default 1)
 * @param startTimeout      ISO-8601 duration a run may stay STARTING (e.g. {@code PT10M})
 */
public record CreateQueueRequest(String name, ObjectNode target, ObjectNode config, ObjectNode templateVariables,
                                 Boolean prioritization, Boolean lockdown, Integer maxAttempts, String startTimeout) {
}
