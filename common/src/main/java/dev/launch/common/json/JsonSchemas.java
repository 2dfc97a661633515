package dev.launch.common.json;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaException;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import dev.launch.common.problem.Problem;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * One JSON Schema validator (draft 2020-12 unless a schema names its own dialect) for job inputs, template
 * variables and event payloads. Errors come back as {@link Problem.FieldError}s naming the offending field.
 */
public final class JsonSchemas {
    private static final SchemaRegistry REGISTRY = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    private static final ConcurrentMap<JsonNode, Schema> CACHE = new ConcurrentHashMap<>();
    private static final Schema META = REGISTRY.getSchema(
            SchemaLocation.of(SpecificationVersion.DRAFT_2020_12.getDialectId()));

    private JsonSchemas() {
    }

    /**
     * Errors of {@code instance} against {@code schema}; field names are prefixed with {@code fieldPrefix}
     * (e.g. {@code inputs}).
     */
    public static List<Problem.FieldError> validate(JsonNode schema, JsonNode instance, String fieldPrefix) {
        Schema compiled = CACHE.computeIfAbsent(schema, REGISTRY::getSchema);
        return toFieldErrors(compiled.validate(instance), fieldPrefix);
    }

    /** Errors of {@code schema} as a JSON Schema (against the draft 2020-12 meta-schema), or none. */
    public static List<Problem.FieldError> checkSchema(JsonNode schema, String fieldPrefix) {
        List<Problem.FieldError> errors = toFieldErrors(META.validate(schema), fieldPrefix);
        if (errors.isEmpty()) {
            try {
                REGISTRY.getSchema(schema);
            } catch (SchemaException e) {
                return List.of(new Problem.FieldError(fieldPrefix, "not a usable JSON Schema: " + e.getMessage()));
            }
        }
        return errors;
    }

    private static List<Problem.FieldError> toFieldErrors(List<Error> errors, String fieldPrefix) {
        List<Problem.FieldError> out = new ArrayList<>();
        for (Error error : errors) {
            StringBuilder field = new StringBuilder(fieldPrefix == null ? "" : fieldPrefix);
            var location = error.getInstanceLocation();
            for (int i = 0; i < location.getNameCount(); i++) {
                Object element = location.getElement(i);
                if (element instanceof Integer index) {
                    field.append('[').append(index).append(']');
                } else {
                    if (!field.isEmpty()) {
                        field.append('.');
                    }
                    field.append(element);
                }
            }
            if (error.getProperty() != null && "required".equals(error.getKeyword())) {
                if (!field.isEmpty()) {
                    field.append('.');
                }
                field.append(error.getProperty());
            }
            out.add(new Problem.FieldError(field.toString(), error.getMessage()));
        }
        return out;
    }
}
