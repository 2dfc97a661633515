package dev.launch.common.event;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Instant;

/**
 * Payload of {@code QueueCreated}, {@code QueueUpdated} and {@code QueueDeleted} on {@code launch.queues}.
 *
 * @param name              queue name
 * @param target            {@code {type, ...}} the target this queue launches on
 * @param config            the target's config template (resource args), may hold {@code {{variables}}}
 * @param templateVariables declared variables, each {@code {schema, default?, description?}}
 * @param prioritization    whether runs may carry a priority
 * @param lockdown          whether entrypoint and args overrides are refused
 * @param maxAttempts       attempts a run gets before it fails for good
 * @param startTimeout      ISO-8601 duration a run may stay STARTING, or null for none
 * @param changedAt         when the change was made
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record QueueChanged(String name, ObjectNode target, ObjectNode config, ObjectNode templateVariables,
                           boolean prioritization, boolean lockdown, int maxAttempts, String startTimeout,
                           Instant changedAt) {
}
