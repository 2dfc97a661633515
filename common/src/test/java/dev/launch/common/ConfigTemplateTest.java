package dev.launch.common;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.launch.common.event.Events;
import dev.launch.common.template.ConfigTemplate;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class ConfigTemplateTest {

    private static JsonNode json(String s) throws Exception {
        return Events.MAPPER.readTree(s);
    }

    @Test
    void aWholePlaceholderBecomesTheTypedValue() throws Exception {
        JsonNode template = json("""
                {"spec":{"containers":[{"resources":{"limits":{"nvidia.com/gpu":"{{gpus}}","cpu":4}}}]},
                 "InstanceType":"{{ aws_instance }}","lr":"{{lr}}"}""");
        JsonNode filled = ConfigTemplate.fillVariables(template, Map.of("gpus", IntNode.valueOf(2),
                "aws_instance", TextNode.valueOf("ml.p3.xlarge"), "lr", json("0.25")));
        JsonNode gpu = filled.at("/spec/containers/0/resources/limits/nvidia.com~1gpu");
        assertTrue(gpu.isInt(), gpu.toString());
        assertEquals(2, gpu.asInt());
        assertEquals(4, filled.at("/spec/containers/0/resources/limits/cpu").asInt());
        assertEquals("ml.p3.xlarge", filled.get("InstanceType").asText());
        assertTrue(filled.get("lr").isDouble());
        assertTrue(template.at("/spec/containers/0/resources/limits/nvidia.com~1gpu").isTextual(),
                "the template itself is unchanged");
    }

    @Test
    void aPlaceholderInsideTextStaysText() throws Exception {
        JsonNode filled = ConfigTemplate.fillVariables(json("{\"name\":\"train-{{gpus}}x-{{kind}}\"}"),
                Map.of("gpus", IntNode.valueOf(4), "kind", TextNode.valueOf("a100")));
        assertEquals("train-4x-a100", filled.get("name").asText());
    }

    @Test
    void aValueCannotInjectStructure() throws Exception {
        String evil = "\", \"privileged\": true, \"x\": \"";
        JsonNode filled = ConfigTemplate.fillVariables(json("{\"image\":\"{{tag}}\",\"label\":\"v-{{tag}}\"}"),
                Map.of("tag", TextNode.valueOf(evil)));
        assertEquals(2, filled.size());
        assertNull(filled.get("privileged"));
        assertEquals(evil, filled.get("image").asText());
        assertEquals("v-" + evil, filled.get("label").asText());
    }

    @Test
    void variablesAreListedAndMissingOnesNamed() throws Exception {
        JsonNode template = json("{\"a\":[\"{{x}}\",{\"b\":\"{{y}}-{{x}}\"}],\"c\":\"${run_id}\"}");
        assertEquals(Set.of("x", "y"), ConfigTemplate.variablesIn(template));
        assertEquals(Set.of("x", "y"), ConfigTemplate.variablesInText(template));
        assertEquals(Set.of(), ConfigTemplate.variablesInText(json("{\"a\":[\"{{x}}\",{\"b\":\"{{ y }}\"}]}")));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ConfigTemplate.fillVariables(template, Map.of("x", IntNode.valueOf(1))));
        assertTrue(e.getMessage().contains("'y'"));
    }

    @Test
    void knownMacrosAreExpandedAndOthersLeftAlone() throws Exception {
        JsonNode expanded = ConfigTemplate.expandMacros(
                json("{\"TrainingJobName\":\"${queue}-${run_id}\",\"image\":\"${image_uri}\",\"n\":3,"
                        + "\"labels\":[\"${job}:${job_version}\",\"try-${attempt}\"]}"),
                Map.of("run_id", "r1", "queue", "gpu", "job", "train", "job_version", "7", "attempt", "2"));
        assertEquals("gpu-r1", expanded.get("TrainingJobName").asText());
        assertEquals("${image_uri}", expanded.get("image").asText());
        assertEquals(3, expanded.get("n").asInt());
        assertEquals("train:7", expanded.at("/labels/0").asText());
        assertEquals("try-2", expanded.at("/labels/1").asText());
    }
}
