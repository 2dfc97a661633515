package dev.launch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static dev.launch.cli.Api.Service.QUEUE;
import static dev.launch.cli.Api.segment;
import static dev.launch.cli.Output.Column;

@Command(name = "queue", description = "Queues: FIFO queues bound to one target, with a config template and variables.",
        subcommands = {QueueCommands.Create.class, QueueCommands.ListQueues.class, QueueCommands.Describe.class,
                QueueCommands.Edit.class, QueueCommands.Delete.class})
final class QueueCommands {
    private QueueCommands() {
    }

    static final List<Column> LIST = List.of(Column.of("NAME", "name"),
            new Column("TARGET", q -> q.path("target").path("type").asText()),
            new Column("PRIORITIES", q -> q.path("prioritization").asBoolean() ? "yes" : "no"),
            new Column("LOCKDOWN", q -> q.path("lockdown").asBoolean() ? "yes" : "no"),
            new Column("VARIABLES", q -> String.join(",", names(q.path("templateVariables")))),
            Column.of("UPDATED", "updatedAt"));

    static final List<Column> ITEM = List.of(Column.of("Name", "name"),
            new Column("Target", q -> q.path("target").path("type").asText()),
            new Column("Queued", q -> q.has("queued") ? q.path("queued").asText() + levels(q.path("queuedByPriority")) : ""),
            Column.of("Running", "running"),
            new Column("Oldest wait", q -> q.has("oldestQueuedAgeSeconds")
                    ? Output.duration(java.time.Duration.ofSeconds(q.path("oldestQueuedAgeSeconds").asLong())) : ""),
            new Column("Agents", q -> agents(q.path("agents"))),
            new Column("Priorities", q -> q.path("prioritization").asBoolean() ? "yes" : "no"),
            new Column("Lockdown", q -> q.path("lockdown").asBoolean() ? "yes" : "no"),
            Column.of("Max attempts", "maxAttempts"), Column.of("Start timeout", "startTimeout"),
            new Column("Variables", q -> variables(q.path("templateVariables"))),
            new Column("Config", q -> yaml(q.path("config"))),
            new Column("Notes", q -> String.join("\n", names(q.path("notes")))),
            Column.of("Updated", "updatedAt"));

    @Command(name = "create", description = "Create a queue. A W&B Launch queue config (the Kubernetes manifest, the "
            + "SageMaker CreateTrainingJob body) is accepted as it is, in YAML or JSON.",
            footer = {"", "Examples:", "  launch queue create local --target local-process",
                    "  launch queue create gpu --target kubernetes --config job.yaml --var-schema vars.json --priorities",
                    "", "A variable schema file is {name: {schema: {type, minimum?, maximum?, enum?}, default?, description?}}, "
                    + "or W&B's API form [{name, schema: \"<JSON text>\"}]."})
    static final class Create extends Base {
        @Parameters(paramLabel = "NAME")
        String name;

        @Option(names = "--target", required = true, paramLabel = "TYPE",
                description = "local-process, local-container, kubernetes, sagemaker or noop.")
        String target;

        @Option(names = "--config", paramLabel = "FILE", description = "The target's config template (YAML or JSON).")
        String config;

        @Option(names = "--var-schema", paramLabel = "FILE", description = "The template variables and their schemas.")
        String varSchema;

        @Option(names = "--priorities", description = "Runs may carry a priority (critical, high, medium, low).")
        boolean priorities;

        @Option(names = "--lockdown", description = "Refuse entrypoint and args overrides at enqueue.")
        boolean lockdown;

        @Option(names = "--max-attempts", paramLabel = "N", description = "Attempts per run (default 1).")
        Integer maxAttempts;

        @Option(names = "--start-timeout", paramLabel = "DURATION", description = "How long a run may stay STARTING, "
                + "as ISO-8601 (PT10M).")
        String startTimeout;

        @Override
        int execute() {
            ObjectNode body = Json.object().put("name", name);
            body.putObject("target").put("type", target);
            fields(body, config, varSchema, priorities ? Boolean.TRUE : null, lockdown ? Boolean.TRUE : null,
                    maxAttempts, startTimeout);
            JsonNode queue = api().send(QUEUE, "POST", "/api/v1/queues", body, Map.of()).body();
            out().done("Created queue " + queue.path("name").asText() + " (" + target + ")", queue);
            notes(queue);
            return 0;
        }

        private void notes(JsonNode queue) {
            for (JsonNode note : queue.path("notes")) {
                out().say("note: " + note.asText());
            }
        }
    }

    @Command(name = "list", description = "The queues.", footer = {"", "Example:", "  launch queue list --target kubernetes"})
    static final class ListQueues extends Base {
        @Option(names = "--prefix", paramLabel = "TEXT", description = "Only names starting with it.")
        String prefix;

        @Option(names = "--target", paramLabel = "TYPE", description = "Only queues of this target.")
        String target;

        @Option(names = "--limit", paramLabel = "N", defaultValue = "100", description = "At most N (default 100).")
        int limit;

        @Override
        int execute() {
            Map<String, Object> query = Api.params();
            query.put("prefix", prefix);
            query.put("targetType", target);
            query.put("limit", limit);
            JsonNode page = api().get(QUEUE, "/api/v1/queues" + Api.query(query));
            out().list(page, page.path("items"), LIST);
            return 0;
        }
    }

    @Command(name = "describe", description = "One queue: depth (per level), running, oldest wait, agents, config.",
            footer = {"", "Example:", "  launch queue describe gpu"})
    static final class Describe extends Base {
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        int execute() {
            out().item(api().get(QUEUE, "/api/v1/queues/" + segment(name)), ITEM);
            return 0;
        }
    }

    @Command(name = "edit", description = "Change a queue; what is not given stays. Runs already queued keep what they "
            + "were enqueued with. Priorities are fixed when a queue is created.",
            footer = {"", "Examples:", "  launch queue edit gpu --config job.yaml", "  launch queue edit gpu --no-lockdown"})
    static final class Edit extends Base {
        @Parameters(paramLabel = "NAME")
        String name;

        @Option(names = "--config", paramLabel = "FILE", description = "A new config template (YAML or JSON).")
        String config;

        @Option(names = "--var-schema", paramLabel = "FILE", description = "New template variables.")
        String varSchema;

        @Option(names = "--lockdown", negatable = true, description = "Refuse (or allow) entrypoint and args overrides.")
        Boolean lockdown;

        @Option(names = "--max-attempts", paramLabel = "N")
        Integer maxAttempts;

        @Option(names = "--start-timeout", paramLabel = "DURATION")
        String startTimeout;

        @Override
        int execute() {
            ObjectNode body = Json.object();
            fields(body, config, varSchema, null, lockdown, maxAttempts, startTimeout);
            if (body.isEmpty()) {
                throw CliException.usage("nothing to change: give --config, --var-schema, --[no-]lockdown, "
                        + "--max-attempts or --start-timeout (priorities are fixed when a queue is created)");
            }
            JsonNode queue = api().send(QUEUE, "PATCH", "/api/v1/queues/" + segment(name), body, Map.of()).body();
            out().done("Updated queue " + name, queue);
            return 0;
        }
    }

    @Command(name = "delete", description = "Delete a queue; refused while it has unfinished runs unless --force, which "
            + "stops them.", footer = {"", "Example:", "  launch queue delete scratch --force"})
    static final class Delete extends Base {
        @Parameters(paramLabel = "NAME")
        String name;

        @Option(names = "--force", description = "Stop the queue's unfinished runs and delete it.")
        boolean force;

        @Override
        int execute() {
            api().send(QUEUE, "DELETE", "/api/v1/queues/" + segment(name) + (force ? "?force=true" : ""), null, Map.of());
            out().say("Deleted queue " + name);
            return 0;
        }
    }

    private static void fields(ObjectNode body, String config, String varSchema, Boolean priorities, Boolean lockdown,
                               Integer maxAttempts, String startTimeout) {
        if (config != null) {
            JsonNode template = Json.readFile("--config", config);
            if (!template.isObject()) {
                throw CliException.usage("--config " + config + " must hold a mapping (the target's config), not "
                        + template.getNodeType().toString().toLowerCase());
            }
            body.set("config", template);
        }
        if (varSchema != null) {
            body.set("templateVariables", variableSchemas(Json.readFile("--var-schema", varSchema), varSchema));
        }
        if (priorities != null) {
            body.put("prioritization", priorities);
        }
        if (lockdown != null) {
            body.put("lockdown", lockdown);
        }
        if (maxAttempts != null) {
            body.put("maxAttempts", maxAttempts);
        }
        if (startTimeout != null) {
            body.put("startTimeout", startTimeout);
        }
    }

    /**
     * The queue's variables as the API takes them, {@code {name: {schema: {...}, ...}}}, from that form or from W&B's
     * API form, a list of {@code {name, schema}} whose schema is JSON text; a schema given as JSON text in the map
     * form is read too.
     */
    static ObjectNode variableSchemas(JsonNode file, String path) {
        ObjectNode variables = Json.object();
        if (file.isArray()) {
            for (JsonNode entry : file) {
                if (!entry.isObject() || !entry.path("name").isTextual() || !entry.has("schema")) {
                    throw CliException.usage("--var-schema " + path + ": each entry of the list needs a name and a schema, "
                            + "as in [{\"name\": \"gpus\", \"schema\": \"{\\\"type\\\": \\\"integer\\\"}\"}]");
                }
                ObjectNode variable = Json.object();
                entry.fields().forEachRemaining(f -> {
                    if (!f.getKey().equals("name")) {
                        variable.set(f.getKey(), f.getValue());
                    }
                });
                variables.set(entry.path("name").asText(), variable);
            }
        } else if (file.isObject()) {
            variables = file.deepCopy();
        } else {
            throw CliException.usage("--var-schema " + path + " must hold {name: {schema: {...}}} or a list of {name, schema}");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = variables.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> variable = it.next();
            JsonNode schema = variable.getValue().path("schema");
            if (schema.isTextual()) {
                try {
                    ((ObjectNode) variable.getValue()).set("schema", Json.JSON.readTree(schema.asText()));
                } catch (IOException e) {
                    throw CliException.usage("--var-schema " + path + ": the schema of " + variable.getKey()
                            + " is text but not JSON: " + schema.asText());
                }
            }
        }
        return variables;
    }

    static List<String> names(JsonNode node) {
        List<String> names = new java.util.ArrayList<>();
        if (node.isObject()) {
            node.fieldNames().forEachRemaining(names::add);
        } else {
            node.forEach(n -> names.add(n.asText()));
        }
        return names;
    }

    private static String levels(JsonNode byLevel) {
        if (!byLevel.isObject()) {
            return "";
        }
        StringBuilder text = new StringBuilder(" (");
        byLevel.fields().forEachRemaining(l -> text.append(text.length() > 2 ? ", " : "").append(l.getKey()).append(' ')
                .append(l.getValue().asText()));
        return text.append(')').toString();
    }

    private static String agents(JsonNode agents) {
        StringBuilder text = new StringBuilder();
        for (JsonNode agent : agents) {
            text.append(text.length() == 0 ? "" : "\n").append(agent.path("agentId").asText()).append(" (")
                    .append(agent.path("state").asText()).append(", ").append(agent.path("running").asText()).append('/')
                    .append(agent.path("maxJobs").asText()).append(" slots)");
        }
        return text.toString();
    }

    private static String variables(JsonNode variables) {
        StringBuilder text = new StringBuilder();
        variables.fields().forEachRemaining(v -> text.append(text.length() == 0 ? "" : "\n").append(v.getKey())
                .append(": ").append(v.getValue().path("schema").toString())
                .append(v.getValue().has("default") ? " default " + v.getValue().get("default") : ""));
        return text.toString();
    }

    private static String yaml(JsonNode config) {
        if (config.isMissingNode() || config.isNull() || config.isEmpty()) {
            return "";
        }
        try {
            return "\n" + Json.YAML.writeValueAsString(config).stripTrailing();
        } catch (IOException e) {
            return config.toString();
        }
    }
}
