package dev.launch.common.event;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.common.json.JsonSchemas;
import dev.launch.common.problem.Problem;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The JSON Schema of each event type, from {@code /schemas/events/<type>.json} in this jar. */
public final class EventSchemas {
    private static final Map<String, JsonNode> SCHEMAS = new ConcurrentHashMap<>();

    private EventSchemas() {
    }

    public static JsonNode schemaOf(String type) {
        return SCHEMAS.computeIfAbsent(type, t -> {
            try (InputStream in = EventSchemas.class.getResourceAsStream("/schemas/events/" + t + ".json")) {
                if (in == null) {
                    throw new IllegalArgumentException("no schema for event type " + t);
                }
                return Events.MAPPER.readTree(in);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** Violations of the type's schema by {@code envelope}, empty when valid. */
    public static List<Problem.FieldError> validate(EventEnvelope envelope) {
        return JsonSchemas.validate(schemaOf(envelope.type()), Events.MAPPER.valueToTree(envelope), "");
    }
}
