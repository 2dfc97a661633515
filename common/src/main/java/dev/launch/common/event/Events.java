package dev.launch.common.event;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;

/**
 * Encoding and decoding of {@link EventEnvelope}s. One mapper for the whole contract: ISO-8601 instants,
 * nulls left out, unknown fields tolerated (schemas evolve by adding optional fields).
 */
public final class Events {
    public static final ObjectMapper MAPPER = new ObjectMapper()
            .registerModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .setSerializationInclusion(JsonInclude.Include.NON_NULL);

    private Events() {
    }

    public static String encode(EventEnvelope envelope) {
        try {
            return MAPPER.writeValueAsString(envelope);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode event " + envelope.type(), e);
        }
    }

    /**
     * Decodes a record value.
     *
     * @throws UndecodableEventException when the text is not an envelope of a known type
     */
    public static EventEnvelope decode(String json) {
        EventEnvelope envelope;
        try {
            envelope = MAPPER.readValue(json, EventEnvelope.class);
        } catch (JsonProcessingException | IllegalArgumentException e) {
            throw new UndecodableEventException("not a Launch event envelope: " + e.getMessage(), e);
        }
        if (envelope == null || envelope.eventId() == null || envelope.type() == null || envelope.payload() == null) {
            throw new UndecodableEventException("event envelope lacks eventId, type or payload", null);
        }
        if (!EventTypes.PAYLOADS.containsKey(envelope.type())
                && !EventTypes.RUN_REQUESTED.equals(envelope.type())) {
            throw new UndecodableEventException("unknown event type '" + envelope.type() + "'", null);
        }
        return envelope;
    }

    /** Thrown for a record that is not a valid Launch event. */
    public static final class UndecodableEventException extends RuntimeException {
        public UndecodableEventException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
