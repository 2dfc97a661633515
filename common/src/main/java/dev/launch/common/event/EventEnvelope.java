package dev.launch.common.event;

import com.fasterxml.jackson.databind.JsonNode;

import java.time.Instant;
import java.util.UUID;

/**
 * The one envelope of every record on every Launch topic.
 *
 * @param eventId       unique id of this event; consumers use it to apply an event once
 * @param type          past-tense fact ({@code RunClaimed}) or imperative command ({@code StopRun})
 * @param schemaVersion version of the payload schema; schemas only ever gain optional fields
 * @param occurredAt    when the producer observed the fact
 * @param subject       id of the thing the event is about: run id, job name, queue name or agent id;
 *                      equal to the record key
 * @param payload       the type's payload, as JSON (see {@link EventTypes#PAYLOADS})
 */
public record EventEnvelope(UUID eventId, String type, int schemaVersion, Instant occurredAt, String subject,
                            JsonNode payload) {

    public static final int SCHEMA_VERSION = 1;

    /** A new envelope for {@code payload}, stamped now with a fresh event id. */
    public static EventEnvelope of(String type, String subject, Object payload) {
        return new EventEnvelope(UUID.randomUUID(), type, SCHEMA_VERSION, Instant.now(), subject,
                Events.MAPPER.valueToTree(payload));
    }

    /** The payload as its contract class. */
    public <T> T payloadAs(Class<T> type) {
        return Events.MAPPER.convertValue(payload, type);
    }
}
