package dev.launch.cli;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The CLI's JSON and YAML, and files given to it in either. */
public final class Json {
    public static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    public static final ObjectMapper YAML = new ObjectMapper(YAMLFactory.builder()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
            .build())
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private Json() {
    }

    public static ObjectNode object() {
        return JsonNodeFactory.instance.objectNode();
    }

    /**
     * A file of JSON or YAML (YAML is a superset of JSON; a W&B config in either form is read as it is). The first
     * line of a file stored with its source ({@code # Source: ...}) is a YAML comment and skipped as such.
     */
    public static JsonNode readFile(String option, String file) {
        Path path = Path.of(file);
        if (!Files.isRegularFile(path)) {
            throw CliException.usage(option + " " + file + ": no such file");
        }
        try {
            String text = Files.readString(path);
            JsonNode node = file.endsWith(".json") ? JSON.readTree(text) : YAML.readTree(text);
            if (node == null || node.isMissingNode()) {
                throw CliException.usage(option + " " + file + ": the file is empty");
            }
            return node;
        } catch (IOException e) {
            throw CliException.usage(option + " " + file + " is not valid " + (file.endsWith(".json") ? "JSON" : "YAML")
                    + ": " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    /** A JSON value given on the command line: a number, true/false, null, an object or array; else the text. */
    public static JsonNode valueOf(String text) {
        try {
            JsonNode node = JSON.readTree(text);
            if (node != null && !node.isMissingNode()) {
                return node;
            }
        } catch (IOException e) {
            // not JSON: a plain string
        }
        return JsonNodeFactory.instance.textNode(text);
    }
}
