package dev.launch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import static dev.launch.cli.Api.Service.QUEUE;
import static dev.launch.cli.Api.segment;

@Command(name = "run", description = "Enqueue a run of a job on a queue; with --follow, watch it to its end.",
        footer = {"", "Examples:",
                "  launch run --queue local --job train --input epochs=3 --follow",
                "  launch run --queue gpu --job train:4 --set-var gpus=2 --priority high",
                "  launch run --queue local --job train -- python train.py --dry-run",
                "",
                "--follow prints the run's output on stdout and its state changes on stderr, and exits 0 when the run",
                "finished, 1 when it failed or was stopped, 2 on a usage or server error. Ctrl-C detaches: the run",
                "goes on (launch runs stop RUN stops it)."})
final class RunCommand extends Base {
    private static final Pattern SEVERAL_PAIRS = Pattern.compile(".*,\\s*[A-Za-z_][A-Za-z0-9_]*=.*");

    @Option(names = {"-q", "--queue"}, required = true, paramLabel = "QUEUE")
    String queue;

    @Option(names = {"-j", "--job"}, required = true, paramLabel = "JOB[:VERSION|:ALIAS]")
    String job;

    @Option(names = {"-i", "--input"}, paramLabel = "NAME=VALUE", description = "An input (VALUE as JSON when it is "
            + "JSON: 3, 0.1, true, [1,2]; else text). Overrides --inputs-file.")
    List<String> inputs = new ArrayList<>();

    @Option(names = "--inputs-file", paramLabel = "FILE", description = "Inputs as a JSON or YAML object.")
    String inputsFile;

    @Option(names = "--set-var", paramLabel = "NAME=VALUE", description = "A value for one of the queue's template "
            + "variables, cast to the variable's type.")
    List<String> variables = new ArrayList<>();

    @Option(names = "--arg", paramLabel = "ARG", description = "Appended to the entrypoint (repeat for each).")
    List<String> args = new ArrayList<>();

    @Option(names = {"-p", "--priority"}, paramLabel = "LEVEL", description = "critical, high, medium or low.")
    String priority;

    @Option(names = "--idempotency-key", paramLabel = "KEY", description = "A retry with the same key answers the "
            + "same run instead of queueing another.")
    String idempotencyKey;

    @Option(names = {"-f", "--follow"}, description = "Watch the run: states and output until it ends.")
    boolean follow;

    @Parameters(paramLabel = "ENTRYPOINT", description = "After '--': an entrypoint that replaces the job's.")
    List<String> entrypoint;

    @Override
    int execute() {
        ObjectNode body = Json.object().put("job", job);
        ObjectNode given = inputs();
        if (!given.isEmpty()) {
            body.set("inputs", given);
        }
        if (!args.isEmpty()) {
            args.forEach(body.putArray("args")::add);
        }
        if (entrypoint != null && !entrypoint.isEmpty()) {
            entrypoint.forEach(body.putArray("entrypoint")::add);
        }
        if (!variables.isEmpty()) {
            JsonNode declared = api().get(QUEUE, "/api/v1/queues/" + segment(queue)).path("templateVariables");
            body.set("templateVariables", castVariables(queue, declared, variables));
        }
        if (priority != null) {
            body.put("priority", priority);
        }
        if (idempotencyKey != null) {
            body.put("idempotencyKey", idempotencyKey);
        }
        Api.Answer answer = api().send(QUEUE, "POST", "/api/v1/queues/" + segment(queue) + "/runs", body, Map.of());
        JsonNode run = answer.body();
        String runId = run.path("runId").asText();
        if (out().format() == Output.Format.TABLE) {
            if (!follow) {
                out().out().println(runId); // for RUN=$(launch run ...); followed, stdout is the run's output
                out().out().flush();
            }
            spec.commandLine().getErr().println("launch: queued run " + runId + " on " + queue
                    + (run.has("position") ? " at position " + run.get("position").asText() : ""));
            spec.commandLine().getErr().flush();
        } else {
            out().raw(run);
        }
        if (!follow) {
            return 0;
        }
        String token = answer.header("Launch-Consistency");
        return new Follower(api(), out().out(), spec.commandLine().getErr(), runId,
                token != null ? token : run.path("consistencyToken").asText(null)).follow(true);
    }

    private ObjectNode inputs() {
        ObjectNode values = Json.object();
        if (inputsFile != null) {
            JsonNode file = Json.readFile("--inputs-file", inputsFile);
            if (!file.isObject()) {
                throw CliException.usage("--inputs-file " + inputsFile + " must hold an object of input names to values");
            }
            values.setAll((ObjectNode) file);
        }
        for (String pair : inputs) {
            int eq = pair.indexOf('=');
            if (eq < 1) {
                throw CliException.usage("--input takes NAME=VALUE, instead got: " + pair);
            }
            values.set(pair.substring(0, eq), Json.valueOf(pair.substring(eq + 1)));
        }
        return values;
    }

    /**
     * Template variable values as the queue declares them: a value for a variable the queue lacks, or one that is
     * not of its type, is refused here with W&B Launch's words, before anything is sent. The server checks bounds
     * and enums.
     */
    static ObjectNode castVariables(String queue, JsonNode declared, List<String> pairs) {
        ObjectNode values = Json.object();
        for (String pair : pairs) {
            int eq = pair.indexOf('=');
            if (eq < 1 || SEVERAL_PAIRS.matcher(pair.substring(eq + 1)).matches()) {
                throw CliException.usage("--set-var value must be in the format \"--set-var key1=value1\", instead got: "
                        + pair);
            }
            String name = pair.substring(0, eq);
            String text = pair.substring(eq + 1);
            JsonNode variable = declared.get(name);
            if (variable == null) {
                throw CliException.usage("Queue " + queue + " does not support overriding " + name + "."
                        + (declared.isEmpty() ? "" : " Its variables: " + String.join(", ", QueueCommands.names(declared))));
            }
            String type = variable.path("schema").path("type").asText("string");
            values.set(name, cast(name, type, text));
        }
        return values;
    }

    private static JsonNode cast(String name, String type, String text) {
        JsonNodeFactory nodes = JsonNodeFactory.instance;
        try {
            return switch (type) {
                case "integer" -> nodes.numberNode(new BigInteger(text.trim()));
                case "number" -> nodes.numberNode(new BigDecimal(text.trim()));
                case "boolean" -> {
                    if (!text.equals("true") && !text.equals("false")) {
                        throw new NumberFormatException(text);
                    }
                    yield nodes.booleanNode(Boolean.parseBoolean(text));
                }
                default -> nodes.textNode(text);
            };
        } catch (NumberFormatException e) {
            throw CliException.usage("Value for " + name + " must be of type " + type + ".");
        }
    }
}
