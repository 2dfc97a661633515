package dev.launch.common;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.common.event.Events;
import dev.launch.common.json.JsonSchemas;
import dev.launch.common.naming.Names;
import dev.launch.common.problem.Problem;
import dev.launch.common.problem.ProblemException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ValidationTest {

    private static JsonNode json(String s) throws Exception {
        return Events.MAPPER.readTree(s);
    }

    @Test
    void namesFollowThePattern() {
        assertTrue(Names.isValid("train-1.v2_x"));
        assertTrue(Names.isValid("a"));
        assertTrue(Names.isValid("a".repeat(63)));
        assertFalse(Names.isValid("a".repeat(64)));
        assertFalse(Names.isValid("Train"));
        assertFalse(Names.isValid("-x"));
        assertFalse(Names.isValid("a b"));
        assertFalse(Names.isValid(""));
        ProblemException e = assertThrows(ProblemException.class, () -> Names.require("name", "Bad Name"));
        assertEquals(400, e.problem().status());
        assertEquals("name", e.problem().errors().get(0).field());
    }

    @Test
    void inputErrorsNameTheField() throws Exception {
        JsonNode schema = json("""
                {"type":"object","required":["epochs"],
                 "properties":{"epochs":{"type":"integer","minimum":1},"opt":{"enum":["sgd","adam"]},
                               "layers":{"type":"array","items":{"type":"integer"}}}}""");
        assertEquals(List.of(), JsonSchemas.validate(schema, json("{\"epochs\":3,\"opt\":\"adam\"}"), "inputs"));
        List<Problem.FieldError> errors = JsonSchemas.validate(schema,
                json("{\"epochs\":0,\"opt\":\"rmsprop\",\"layers\":[1,\"x\"]}"), "inputs");
        List<String> fields = errors.stream().map(Problem.FieldError::field).sorted().toList();
        assertEquals(List.of("inputs.epochs", "inputs.layers[1]", "inputs.opt"), fields);
        List<Problem.FieldError> missing = JsonSchemas.validate(schema, json("{}"), "inputs");
        assertEquals("inputs.epochs", missing.get(0).field());
    }

    @Test
    void aBrokenSchemaIsRefused() throws Exception {
        assertEquals(List.of(), JsonSchemas.checkSchema(json("{\"type\":\"object\"}"), "inputs.schema"));
        assertFalse(JsonSchemas.checkSchema(json("{\"type\":\"banana\"}"), "inputs.schema").isEmpty());
        assertFalse(JsonSchemas.checkSchema(json("{\"minimum\":\"three\"}"), "inputs.schema").isEmpty());
    }
}
