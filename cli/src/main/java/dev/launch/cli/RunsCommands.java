package dev.launch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.Map;

import static dev.launch.cli.Api.Service.STATUS;
import static dev.launch.cli.Api.segment;
import static dev.launch.cli.Output.Column;

@Command(name = "runs", description = "Runs: list them, see one, read its output, stop or reprioritize it.",
        subcommands = {RunsCommands.ListRuns.class, RunsCommands.Describe.class, RunsCommands.Logs.class,
                RunsCommands.Stop.class, RunsCommands.Reprioritize.class})
final class RunsCommands {
    private RunsCommands() {
    }

    static final List<Column> LIST = List.of(Column.of("RUN", "runId"), Column.of("QUEUE", "queue"),
            new Column("JOB", r -> r.path("job").asText() + ":" + r.path("jobVersion").asText()),
            Column.of("STATE", "state"), Column.of("ATTEMPT", "attempt"), Column.of("AGENT", "agentId"),
            new Column("CREATED", r -> Output.age(r.path("createdAt")) + " ago"),
            new Column("DETAIL", RunsCommands::detail));

    static final List<Column> ITEM = List.of(Column.of("Run", "runId"), Column.of("Queue", "queue"),
            new Column("Job", r -> r.path("job").asText() + ":" + r.path("jobVersion").asText()),
            new Column("State", r -> r.path("state").asText() + (r.path("stopRequested").asBoolean() ? " (stop requested)" : "")),
            Column.of("Position", "position"), Column.of("Pending", "pendingReason"), Column.of("Priority", "priority"),
            new Column("Attempt", r -> r.path("attempt").asText() + (r.has("maxAttempts") ? " of " + r.get("maxAttempts").asText() : "")),
            Column.of("Agent", "agentId"),
            new Column("Target", r -> r.has("target") ? (r.path("target").path("type").asText() + " "
                    + Output.text(r.path("target").path("handle"))).strip() : ""),
            Column.of("Exit code", "exitCode"),
            new Column("Failure", r -> r.has("failure") ? r.path("failure").path("stage").asText() + ": "
                    + r.path("failure").path("reason").asText() : ""),
            Column.of("Created", "createdAt"), Column.of("Updated", "updatedAt"),
            new Column("History", RunsCommands::history),
            new Column("Attempts", RunsCommands::attempts));

    @Command(name = "list", description = "Runs, newest first.",
            footer = {"", "Examples:", "  launch runs list --queue gpu --state RUNNING,QUEUED", "  launch runs list -o json --limit 5"})
    static final class ListRuns extends Base {
        @Option(names = "--queue", paramLabel = "QUEUE")
        String queue;

        @Option(names = "--state", paramLabel = "STATE[,STATE]", description = "QUEUED, CLAIMED, STARTING, RUNNING, "
                + "STOPPING, PREEMPTED, FINISHED, FAILED, STOPPED (comma-separated).")
        String state;

        @Option(names = "--job", paramLabel = "JOB")
        String job;

        @Option(names = "--agent", paramLabel = "AGENT")
        String agent;

        @Option(names = "--limit", paramLabel = "N", defaultValue = "50", description = "At most N (default 50).")
        int limit;

        @Override
        int execute() {
            Map<String, Object> query = Api.params();
            query.put("queue", queue);
            query.put("state", state);
            query.put("job", job);
            query.put("agent", agent);
            query.put("limit", limit);
            JsonNode page = api().get(STATUS, "/api/v1/runs" + Api.query(query));
            out().list(page, page.path("items"), LIST);
            return 0;
        }
    }

    @Command(name = "describe", description = "One run: state, history, attempts, position and pending reason, failure.",
            footer = {"", "Example:", "  launch runs describe 0196a6c4-..."})
    static final class Describe extends Base {
        @Parameters(paramLabel = "RUN")
        String runId;

        @Override
        int execute() {
            out().item(api().get(STATUS, "/api/v1/runs/" + segment(runId)), ITEM);
            return 0;
        }
    }

    @Command(name = "logs", description = "A run's output; with --follow, as it comes, until the run has ended and its "
            + "last line is read (exit 0 finished, 1 failed or stopped).",
            footer = {"", "Examples:", "  launch runs logs 0196a6c4-...", "  launch runs logs 0196a6c4-... --follow"})
    static final class Logs extends Base {
        @Parameters(paramLabel = "RUN")
        String runId;

        @Option(names = {"-f", "--follow"}, description = "Keep reading until the run has ended (Ctrl-C detaches).")
        boolean follow;

        @Option(names = "--attempt", paramLabel = "N", description = "Only this attempt's output.")
        Integer attempt;

        @Override
        int execute() {
            if (follow) {
                if (attempt != null) {
                    throw CliException.usage("--follow reads every attempt: leave out --attempt");
                }
                return new Follower(api(), out().out(), spec.commandLine().getErr(), runId, null).follow(false);
            }
            String text = api().text(STATUS, "/api/v1/runs/" + segment(runId) + "/logs"
                    + Api.query(attempt == null ? Map.of() : Map.of("attempt", attempt)), Map.of()).body();
            out().out().print(text);
            out().out().flush();
            return 0;
        }
    }

    @Command(name = "stop", description = "Ask for a run to stop (a queued run is never launched).",
            footer = {"", "Example:", "  launch runs stop 0196a6c4-..."})
    static final class Stop extends Base {
        @Parameters(paramLabel = "RUN")
        String runId;

        @Override
        int execute() {
            JsonNode answer = api().send(STATUS, "POST", "/api/v1/runs/" + segment(runId) + "/stop", null, Map.of()).body();
            out().done("Stop requested for run " + runId + " (it was " + answer.path("state").asText() + ")", answer);
            return 0;
        }
    }

    @Command(name = "reprioritize", description = "Move a queued run to the tail of another priority level.",
            footer = {"", "Example:", "  launch runs reprioritize 0196a6c4-... --priority high"})
    static final class Reprioritize extends Base {
        @Parameters(paramLabel = "RUN")
        String runId;

        @Option(names = "--priority", required = true, paramLabel = "LEVEL", description = "critical, high, medium or low.")
        String priority;

        @Override
        int execute() {
            JsonNode answer = api().send(STATUS, "PATCH", "/api/v1/runs/" + segment(runId),
                    Json.object().put("priority", priority), Map.of()).body();
            out().done("Run " + runId + " is now " + answer.path("priority").asText(priority) + " priority", answer);
            return 0;
        }
    }

    @Command(name = "agents", description = "Agents: what serves which queues, slots in use, heartbeats.",
            subcommands = AgentsList.class)
    static final class Agents {
    }

    @Command(name = "list", description = "The agents the status service knows, newest first.",
            footer = {"", "Example:", "  launch agents list --state RUNNING"})
    static final class AgentsList extends Base {
        @Option(names = "--queue", paramLabel = "QUEUE")
        String queue;

        @Option(names = "--state", paramLabel = "STATE", description = "POLLING, RUNNING, LOST or STOPPED.")
        String state;

        @Override
        int execute() {
            Map<String, Object> query = Api.params();
            query.put("queue", queue);
            query.put("state", state);
            JsonNode page = api().get(STATUS, "/api/v1/agents" + Api.query(query));
            out().list(page, page.path("items"), List.of(Column.of("AGENT", "agentId"), Column.of("STATE", "state"),
                    new Column("QUEUES", a -> String.join(",", QueueCommands.names(a.path("queues")))),
                    new Column("SLOTS", a -> a.path("running").asText() + "/" + a.path("maxJobs").asText()),
                    new Column("HEARTBEAT", a -> Output.age(a.path("lastHeartbeat")) + " ago"),
                    new Column("HOST", a -> a.path("host").asText() + (a.has("pid") ? " pid " + a.get("pid").asText() : ""))));
            return 0;
        }
    }

    private static String detail(JsonNode run) {
        if (run.has("failure")) {
            return run.path("failure").path("stage").asText() + ": " + run.path("failure").path("reason").asText();
        }
        if (run.has("pendingReason")) {
            return run.get("pendingReason").asText();
        }
        return run.path("stopRequested").asBoolean() ? "stop requested" : "";
    }

    private static String history(JsonNode run) {
        StringBuilder text = new StringBuilder();
        for (JsonNode h : run.path("history")) {
            text.append(text.length() == 0 ? "" : "\n").append(h.path("at").asText()).append("  ")
                    .append(h.path("state").asText())
                    .append(h.hasNonNull("reason") ? "  " + h.get("reason").asText() : "");
        }
        return text.toString();
    }

    private static String attempts(JsonNode run) {
        StringBuilder text = new StringBuilder();
        for (JsonNode a : run.path("attempts")) {
            text.append(text.length() == 0 ? "" : "\n").append(a.path("attempt").asText()).append(": ")
                    .append(String.join(",", QueueCommands.names(a.path("agents"))))
                    .append(a.hasNonNull("handle") ? " " + a.get("handle").asText() : "")
                    .append(a.hasNonNull("outcome") ? " -> " + a.get("outcome").asText() : "");
        }
        return text.toString();
    }
}
