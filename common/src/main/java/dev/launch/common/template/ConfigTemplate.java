package dev.launch.common.template;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;

import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A queue's config template: JSON whose string values may hold {@code {{variable}}} placeholders (filled at
 * enqueue from the queue's template variables) and {@code ${macro}} placeholders (filled by the agent at
 * launch: {@code run_id}, {@code queue}, {@code job}, {@code job_version}, {@code attempt}).
 *
 * <p>Values go in as values, never as text spliced into the document: a string that is exactly one
 * placeholder becomes the variable's typed value ({@code "{{gpus}}"} → {@code 2}); a placeholder inside a
 * longer string puts the value's text into that string, which stays a string. Either way no value can add
 * structure to the document. Object keys are not templated. Unknown {@code ${...}} macros are left as they
 * are (W&amp;B configs carry some, e.g. {@code ${image_uri}}, that other parts resolve).
 */
public final class ConfigTemplate {
    private static final Pattern VARIABLE = Pattern.compile("\\{\\{\\s*([A-Za-z_][A-Za-z0-9_.-]*)\\s*}}");
    private static final Pattern MACRO = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)}");

    /** Macro names the agent fills at launch. */
    public static final Set<String> MACROS = Set.of("run_id", "queue", "job", "job_version", "attempt",
            "project_name", "entity_name", "image_uri");

    private ConfigTemplate() {
    }

    /** Names of the {@code {{variables}}} used anywhere in {@code template}. */
    public static Set<String> variablesIn(JsonNode template) {
        Set<String> names = new LinkedHashSet<>();
        visitStrings(template, text -> {
            Matcher m = VARIABLE.matcher(text);
            while (m.find()) {
                names.add(m.group(1));
            }
        });
        return names;
    }

    /**
     * Names of the {@code {{variables}}} used as part of a longer string somewhere in {@code template}
     * ({@code "repo:{{tag}}"}): their values are spliced in as text. A variable that is a whole value
     * ({@code "{{gpus}}"}) takes its value's own type.
     */
    public static Set<String> variablesInText(JsonNode template) {
        Set<String> names = new LinkedHashSet<>();
        visitStrings(template, text -> {
            if (VARIABLE.matcher(text).matches()) {
                return;
            }
            Matcher m = VARIABLE.matcher(text);
            while (m.find()) {
                names.add(m.group(1));
            }
        });
        return names;
    }

    /**
     * {@code template} with every {@code {{variable}}} replaced by its value.
     *
     * @throws IllegalArgumentException naming a variable that has no value
     */
    public static JsonNode fillVariables(JsonNode template, Map<String, JsonNode> values) {
        return rewrite(template, text -> {
            Matcher whole = VARIABLE.matcher(text);
            if (whole.matches()) {
                return value(values, whole.group(1)).deepCopy();
            }
            Matcher m = VARIABLE.matcher(text);
            StringBuilder out = new StringBuilder();
            while (m.find()) {
                JsonNode value = value(values, m.group(1));
                m.appendReplacement(out, Matcher.quoteReplacement(value.isValueNode() ? value.asText() : value.toString()));
            }
            m.appendTail(out);
            return TextNode.valueOf(out.toString());
        });
    }

    /** {@code template} with the known {@code ${macros}} replaced by {@code values}; others left alone. */
    public static JsonNode expandMacros(JsonNode template, Map<String, String> values) {
        return rewrite(template, text -> {
            Matcher m = MACRO.matcher(text);
            StringBuilder out = new StringBuilder();
            while (m.find()) {
                String value = values.get(m.group(1));
                m.appendReplacement(out, Matcher.quoteReplacement(value != null ? value : m.group()));
            }
            m.appendTail(out);
            return TextNode.valueOf(out.toString());
        });
    }

    private static JsonNode value(Map<String, JsonNode> values, String name) {
        JsonNode value = values.get(name);
        if (value == null) {
            throw new IllegalArgumentException("no value for template variable '" + name + "'");
        }
        return value;
    }

    private static JsonNode rewrite(JsonNode node, Function<String, JsonNode> onString) {
        if (node == null) {
            return null;
        }
        if (node.isTextual()) {
            return onString.apply(node.asText());
        }
        if (node.isObject()) {
            ObjectNode out = JsonNodeFactory.instance.objectNode();
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                out.set(e.getKey(), rewrite(e.getValue(), onString));
            }
            return out;
        }
        if (node.isArray()) {
            ArrayNode out = JsonNodeFactory.instance.arrayNode();
            node.forEach(child -> out.add(rewrite(child, onString)));
            return out;
        }
        return node.deepCopy();
    }

    private static void visitStrings(JsonNode node, java.util.function.Consumer<String> visitor) {
        if (node == null) {
            return;
        }
        if (node.isTextual()) {
            visitor.accept(node.asText());
        } else if (node.isContainerNode()) {
            node.forEach(child -> visitStrings(child, visitor));
        }
    }
}
