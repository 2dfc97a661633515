package dev.launch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the CLI makes of its arguments and files before it sends anything. */
class ArgumentsTest {
    private static JsonNode json(String text) throws Exception {
        return Json.JSON.readTree(text);
    }

    @Test
    void variableSchemasInWandbsApiFormBecomeTheMapTheApiTakes() throws Exception {
        JsonNode api = json("[{\"name\": \"test_int\", \"schema\": \"{\\\"type\\\": \\\"integer\\\"}\"},"
                + " {\"name\": \"gpus\", \"schema\": {\"type\": \"integer\", \"maximum\": 4}, \"default\": 1}]");
        assertEquals(json("{\"test_int\": {\"schema\": {\"type\": \"integer\"}},"
                        + " \"gpus\": {\"schema\": {\"type\": \"integer\", \"maximum\": 4}, \"default\": 1}}"),
                QueueCommands.variableSchemas(api, "v.json"));
        JsonNode map = json("{\"cpu\": {\"schema\": {\"type\": \"integer\", \"minimum\": 1}}}");
        assertEquals(map, QueueCommands.variableSchemas(map, "v.json"), "Launch's own form as it is");
        CliException nameless = assertThrows(CliException.class,
                () -> QueueCommands.variableSchemas(json("[{\"schema\": \"{}\"}]"), "v.json"));
        assertTrue(nameless.getMessage().contains("needs a name and a schema"), nameless.getMessage());
        CliException text = assertThrows(CliException.class,
                () -> QueueCommands.variableSchemas(json("{\"a\": {\"schema\": \"{type\"}}"), "v.json"));
        assertTrue(text.getMessage().contains("the schema of a is text but not JSON"), text.getMessage());
    }

    @Test
    void setVarValuesAreCastToTheirVariablesTypes() throws Exception {
        JsonNode declared = json("{\"s\": {\"schema\": {\"type\": \"string\"}}, \"i\": {\"schema\": {\"type\": \"integer\"}},"
                + " \"n\": {\"schema\": {\"type\": \"number\"}}, \"b\": {\"schema\": {\"type\": \"boolean\"}}}");
        assertEquals("{\"s\":\"007\",\"i\":2,\"n\":2.5,\"b\":true}", RunCommand.castVariables("q", declared,
                List.of("s=007", "i=2", "n=2.5", "b=true")).toString());
        assertEquals("{\"s\":\"a=b\"}", RunCommand.castVariables("q", declared, List.of("s=a=b")).toString(),
                "an '=' in a value is the value's");
        assertEquals("Value for i must be of type integer.", assertThrows(CliException.class,
                () -> RunCommand.castVariables("q", declared, List.of("i=2.5"))).getMessage());
        assertEquals("Value for b must be of type boolean.", assertThrows(CliException.class,
                () -> RunCommand.castVariables("q", declared, List.of("b=yes"))).getMessage());
        assertTrue(assertThrows(CliException.class, () -> RunCommand.castVariables("q", declared, List.of("x=1")))
                .getMessage().startsWith("Queue q does not support overriding x. Its variables: s, i, n, b"));
        assertTrue(assertThrows(CliException.class, () -> RunCommand.castVariables("q", declared, List.of("i")))
                .getMessage().startsWith("--set-var value must be in the format"));
    }

    @Test
    void inputValuesAreJsonWhenTheyAreJsonAndTextOtherwise() {
        assertEquals("3", Json.valueOf("3").toString());
        assertEquals("[1,2]", Json.valueOf("[1,2]").toString());
        assertEquals("\"2abc\"", Json.valueOf("2abc").toString(), "not a number followed by junk");
        assertEquals("\"quick\"", Json.valueOf("quick").toString());
    }

    @Test
    void aTableHasAColumnPerFieldAndJsonIsTheAnswerItself() throws Exception {
        StringWriter text = new StringWriter();
        JsonNode answer = json("{\"items\": [{\"name\": \"a\", \"n\": 1}, {\"name\": \"longer\", \"n\": 22}]}");
        List<Output.Column> columns = List.of(Output.Column.of("NAME", "name"), Output.Column.of("N", "n"));
        new Output(Output.Format.TABLE, new PrintWriter(text)).list(answer, answer.path("items"), columns);
        assertEquals("NAME    N\na       1\nlonger  22\n", text.toString());
        StringWriter json = new StringWriter();
        new Output(Output.Format.JSON, new PrintWriter(json)).list(answer, answer.path("items"), columns);
        assertEquals(answer, json(json.toString()));
    }

    @Test
    void aRefusalSaysTheServersDetailAndEachField() throws Exception {
        assertEquals("The queue has 2 invalid fields; see errors.\n  config.a: no\n  name: too long", Api.refused(
                Api.Service.QUEUE, 400, -1, json("{\"title\": \"Bad Request\", \"status\": 400, \"detail\": "
                        + "\"The queue has 2 invalid fields; see errors.\", \"errors\": [{\"field\": \"config.a\", "
                        + "\"message\": \"no\"}, {\"field\": \"name\", \"message\": \"too long\"}]}")).getMessage());
        assertEquals("name: too long", Api.refused(Api.Service.QUEUE, 400, -1, json("{\"detail\": \"name: too long\","
                + " \"errors\": [{\"field\": \"name\", \"message\": \"too long\"}]}")).getMessage(), "said once");
        assertEquals("the status service answered HTTP 502", Api.refused(Api.Service.STATUS, 502, -1,
                com.fasterxml.jackson.databind.node.NullNode.instance).getMessage());
    }

    @Test
    void usageErrorsExitWith2AndNameTheCommandsHelp() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new String[]{"run", "--queue", "q"}, Map.of(), new PrintWriter(out), new PrintWriter(err));
        assertEquals(2, code);
        assertTrue(err.toString().startsWith("launch: Missing required option: '--job=JOB[:VERSION|:ALIAS]'")
                && err.toString().contains("See 'launch run --help'."), err.toString());
        assertEquals(2, Main.run(new String[]{"runz"}, Map.of(), new PrintWriter(out), new PrintWriter(err)));
        assertTrue(err.toString().contains("Did you mean: launch run or launch runs?"), err.toString());
    }
}
