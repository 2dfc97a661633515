package dev.launch.web;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.type.LogicalType;
import io.quarkus.jackson.ObjectMapperCustomizer;
import jakarta.inject.Singleton;

/**
 * Request bodies are read as they are typed: a number or a boolean where a string belongs, a string where a
 * number or a boolean belongs, a fraction where an integer belongs and a key given twice are each refused (400,
 * naming the field) instead of being coerced — {@code {"job": 42}} was read as the job "42" and answered 404,
 * {@code {"job": "a", "job": "b"}} as "b". Free-form parts of a body (a queue's config, a run's inputs: JSON
 * trees) keep every JSON type; the problem mappers say what was expected where. A body nested deeper than
 * {@link #MAX_DEPTH} levels is refused before it is read further.
 */
@Singleton
public class StrictJson implements ObjectMapperCustomizer {
    /**
     * How deep a body may nest objects and arrays: a Kubernetes Job manifest, the deepest body users send, nests
     * about 15 levels; Jackson's own bound is 1,000.
     */
    public static final int MAX_DEPTH = 64;

    @Override
    public void customize(ObjectMapper mapper) {
        apply(mapper);
    }

    /** {@code mapper}, made strict (also for clients and tests that read as the services do). */
    public static ObjectMapper apply(ObjectMapper mapper) {
        mapper.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxNestingDepth(MAX_DEPTH).build());
        mapper.enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
        mapper.coercionConfigFor(LogicalType.Textual)
                .setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail);
        mapper.coercionConfigFor(LogicalType.Integer)
                .setCoercion(CoercionInputShape.String, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail);
        mapper.coercionConfigFor(LogicalType.Float)
                .setCoercion(CoercionInputShape.String, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail);
        mapper.coercionConfigFor(LogicalType.Boolean)
                .setCoercion(CoercionInputShape.String, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Integer, CoercionAction.Fail);
        return mapper;
    }
}
