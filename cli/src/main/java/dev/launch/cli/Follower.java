package dev.launch.cli;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

import static dev.launch.cli.Api.Service.STATUS;
import static dev.launch.cli.Api.segment;

/**
 * Follows one run to its end: its state changes as they happen (the status service's event stream, on stderr
 * so that stdout holds the run's output alone) and its output as it is stored (the log stream, resumed from its
 * cursor if it breaks), until the status service says the run has ended and its last line is sent ({@code complete}). The exit code
 * says how it ended: 0 finished, 1 failed, stopped or preempted.
 */
final class Follower {
    private static final Set<String> ENDS = Set.of("FINISHED", "FAILED", "STOPPED");
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss").withZone(ZoneId.systemDefault());
    private static final Duration RECONNECT_WAIT = Duration.ofMillis(500);

    private final Api api;
    private final PrintWriter out;
    private final PrintWriter err;
    private final String runId;
    private final Map<String, String> headers = new HashMap<>();

    Follower(Api api, PrintWriter out, PrintWriter err, String runId, String consistencyToken) {
        this.api = api;
        this.out = out;
        this.err = err;
        this.runId = runId;
        if (consistencyToken != null) {
            headers.put("Launch-Consistency", consistencyToken);
        }
    }

    /** Follows states and output; answers the exit code. Ctrl-C leaves the run going (said on stderr). */
    int follow(boolean states) {
        Thread detach = new Thread(() -> {
            err.println("launch: detached from run " + runId + "; it goes on (launch runs stop " + runId + " stops it)");
            err.flush();
        });
        Runtime.getRuntime().addShutdownHook(detach);
        Thread watcher = null;
        if (states) {
            watcher = new Thread(this::states, "launch-states");
            watcher.setDaemon(true);
            watcher.start();
        }
        try {
            logs();
            if (watcher != null) {
                watcher.join(Duration.ofSeconds(5).toMillis());
            }
            return ended();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return CliException.USAGE;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(detach);
            } catch (IllegalStateException e) {
                // shutting down: the hook says so
            }
        }
    }

    /** Prints each state change as the status service streams it; the stream ends at the run's end. */
    private void states() {
        try {
            api.events(STATUS, "/api/v1/runs/" + segment(runId) + "/events", headers, event -> {
                try {
                    JsonNode change = Json.JSON.readTree(event.data());
                    String at = change.hasNonNull("at") ? CLOCK.format(Instant.parse(change.get("at").asText())) : "";
                    err.println("launch: " + at + " " + change.path("state").asText()
                            + (change.hasNonNull("reason") ? " (" + change.get("reason").asText() + ")" : ""));
                    err.flush();
                } catch (Exception e) {
                    // a malformed change is not worth stopping for: the end is read from the run itself
                }
                return true;
            });
        } catch (CliException e) {
            err.println("launch: live states unavailable: " + e.getMessage());
            err.flush();
        }
    }

    /**
     * Prints the output as the status service streams it, until its {@code complete} event (the run has ended and
     * its last line is sent). A stream that breaks or ends early is opened again from the last cursor printed, so no
     * line is printed twice or missed; three breaks in a row with nothing read are the error.
     */
    private void logs() throws InterruptedException {
        String[] cursor = {"0"};
        boolean[] complete = {false};
        int breaks = 0;
        while (!complete[0]) {
            String before = cursor[0];
            try {
                api.events(STATUS, "/api/v1/runs/" + segment(runId) + "/logs/stream"
                        + Api.query(Map.of("after", cursor[0])), headers, event -> {
                    if ("complete".equals(event.name())) {
                        complete[0] = true;
                        return false;
                    }
                    if ("log".equals(event.name())) {
                        JsonNode page;
                        try {
                            page = Json.JSON.readTree(event.data());
                        } catch (java.io.IOException e) {
                            throw new CliException(CliException.USAGE, "the status service sent a log event that is "
                                    + "not JSON: " + e.getMessage());
                        }
                        out.print(page.path("text").asText());
                        out.flush();
                        cursor[0] = page.path("cursor").asText(cursor[0]);
                    }
                    return true;
                });
            } catch (Api.Refused e) {
                if (e.retryAfter() < 0) {
                    throw e;
                }
                Thread.sleep(Math.min(e.retryAfter(), 5) * 1000); // the status service is behind: as it asks
                continue;
            } catch (CliException e) {
                breaks = cursor[0].equals(before) ? breaks + 1 : 1;
                if (breaks >= 3) {
                    throw e;
                }
            }
            if (!complete[0]) {
                Thread.sleep(RECONNECT_WAIT.toMillis()); // the stream ended early (a restart): open it again
            }
        }
    }

    /** How the run ended: said on stderr, and as the exit code. */
    private int ended() {
        JsonNode run = api.send(STATUS, "GET", "/api/v1/runs/" + segment(runId), null, headers).body();
        String state = run.path("state").asText();
        StringBuilder line = new StringBuilder("launch: run " + runId + " " + state);
        if (run.has("exitCode")) {
            line.append(", exit code ").append(run.get("exitCode").asText());
        }
        if (run.has("failure")) {
            line.append(": ").append(run.path("failure").path("stage").asText()).append(" - ")
                    .append(run.path("failure").path("reason").asText());
        }
        err.println(line);
        err.flush();
        if (!ENDS.contains(state) && !"PREEMPTED".equals(state)) {
            return CliException.USAGE;
        }
        return "FINISHED".equals(state) ? 0 : CliException.RUN_FAILED;
    }
}
