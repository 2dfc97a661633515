package dev.launch.web;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.launch.common.problem.Problem;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StrictJsonTest {
    private final ObjectMapper mapper = StrictJson.apply(new ObjectMapper());

    record Source(String type, String image) {
    }

    record Body(String job, Integer priority, Double weight, Boolean lockdown, List<String> entrypoint, Source source,
                JsonNode config) {
    }

    /** The problem a body answers, as the services' mappers make it. */
    private Problem refused(String json) {
        JsonProcessingException e = assertThrows(JsonProcessingException.class, () -> mapper.readValue(json, Body.class));
        Problem problem = ProblemMappers.problemOf(e);
        assertEquals(400, problem.status());
        return problem;
    }

    private void refusedAt(String json, String field, String saying) {
        Problem problem = refused(json);
        assertEquals(field, problem.errors().get(0).field(), problem.detail());
        assertTrue(problem.detail().contains(saying), problem.detail());
    }

    @Test
    void aWellTypedBodyIsReadWithItsFreeFormPartsAsTheyAre() throws Exception {
        Body body = mapper.readValue("{\"job\":\"train\",\"priority\":2,\"weight\":0.5,\"lockdown\":true,"
                + "\"entrypoint\":[\"python\",\"t.py\"],\"source\":{\"type\":\"image\",\"image\":\"i\"},"
                + "\"config\":{\"gpus\":2,\"name\":\"x\",\"on\":false,\"list\":[1,\"a\"]}}", Body.class);
        assertEquals("train", body.job());
        assertEquals(2, body.priority());
        assertEquals(0.5, body.weight());
        assertTrue(body.config().get("gpus").isInt());
        assertTrue(body.config().get("on").isBoolean());
        // an integer where a fraction belongs is a number all the same
        assertEquals(1.0, mapper.readValue("{\"weight\":1}", Body.class).weight());
    }

    @Test
    void aNumberOrABooleanWhereAStringBelongsIsRefusedNamingTheField() {
        refusedAt("{\"job\":42}", "job", "a string");
        refusedAt("{\"job\":true}", "job", "a string");
        refusedAt("{\"entrypoint\":[\"python\",3]}", "entrypoint[1]", "a string");
        refusedAt("{\"source\":{\"type\":1.5}}", "source.type", "a string");
    }

    @Test
    void aStringWhereANumberOrABooleanBelongsIsRefused() {
        refusedAt("{\"priority\":\"2\"}", "priority", "a number");
        refusedAt("{\"priority\":2.5}", "priority", "a number");
        refusedAt("{\"weight\":\"0.5\"}", "weight", "a number");
        refusedAt("{\"lockdown\":\"true\"}", "lockdown", "true or false");
        refusedAt("{\"lockdown\":1}", "lockdown", "true or false");
    }

    @Test
    void aStringWhereAnObjectOrAnArrayBelongsIsRefused() {
        refusedAt("{\"source\":\"image\"}", "source", "an object");
        refusedAt("{\"entrypoint\":\"python t.py\"}", "entrypoint", "an array");
    }

    @Test
    void aBodyNestedDeeperThanTheBoundIsRefusedWhereverTheNestingIs() throws Exception {
        String deep = "{\"a\":".repeat(StrictJson.MAX_DEPTH) + "1" + "}".repeat(StrictJson.MAX_DEPTH);
        Problem problem = refused("{\"config\":" + deep + "}");
        assertTrue(problem.detail().contains("deeper than " + StrictJson.MAX_DEPTH), problem.detail());
        refused("{\"entrypoint\":" + "[".repeat(StrictJson.MAX_DEPTH + 1) + "]".repeat(StrictJson.MAX_DEPTH + 1) + "}");
        // at the bound, it is read
        String atBound = "{\"a\":".repeat(StrictJson.MAX_DEPTH - 2) + "1" + "}".repeat(StrictJson.MAX_DEPTH - 2);
        assertEquals(1, mapper.readValue("{\"config\":" + atBound + "}", Body.class).config()
                .at("/a".repeat(StrictJson.MAX_DEPTH - 3)).path("a").asInt());
    }

    @Test
    void aBodyThatIsNoObjectIsRefusedWithoutTheServicesClassNames() {
        for (String body : List.of("0", "[]", "\"text\"", "true")) {
            Problem problem = refused(body);
            assertEquals("The request body must be a JSON object.", problem.detail(), body);
        }
        assertEquals("cannot make Body from x", ProblemMappers.withoutClassNames(
                "cannot make `dev.launch.web.StrictJsonTest$Body` from x").replace("StrictJsonTest$", ""));
    }

    @Test
    void aKeyGivenTwiceIsRefusedNamingIt() {
        refusedAt("{\"job\":\"a\",\"job\":\"b\"}", "job", "given twice");
        refusedAt("{\"source\":{\"type\":\"image\",\"type\":\"git\"}}", "source.type", "given twice");
        refusedAt("{\"config\":{\"gpus\":1,\"gpus\":2}}", "config.gpus", "given twice");
    }
}
