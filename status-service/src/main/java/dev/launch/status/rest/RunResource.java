package dev.launch.status.rest;

import dev.launch.common.event.Events;
import dev.launch.common.event.RunRequest;
import dev.launch.common.naming.Names;
import dev.launch.common.naming.RunIds;
import dev.launch.common.problem.ProblemException;
import dev.launch.common.run.Priority;
import dev.launch.common.run.RunState;
import dev.launch.status.messaging.LogProgress;
import dev.launch.status.messaging.RunChanges;
import dev.launch.status.messaging.ReadModelProgress;
import dev.launch.status.messaging.RunMoves;
import dev.launch.status.messaging.StopPublisher;
import dev.launch.status.repository.LogStore;
import dev.launch.status.repository.RunChange;
import dev.launch.status.repository.RunReadModel;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import jakarta.ws.rs.*;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.sse.OutboundSseEvent;
import jakarta.ws.rs.sse.Sse;
import org.jboss.resteasy.reactive.RestStreamElementType;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Runs: list, detail with history, logs, live state changes, stop, reprioritize (design §5). */
@Path("/api/v1/runs")
@Produces(MediaType.APPLICATION_JSON)
public class RunResource {
    private static final int MAX_LIMIT = 500;
    /** The cursor to read a run's output on from ({@code ?after=}), on every answer to a read with {@code after}. */
    public static final String LOG_CURSOR = "Launch-Log-Cursor";
    /** true on the answer that holds a run's last output: the run has ended and all its output is read. */
    public static final String LOG_COMPLETE = "Launch-Log-Complete";
    private static final int LOG_PAGE = 500;

    @Inject
    Pool pool;
    @Inject
    RunReadModel model;
    @Inject
    dev.launch.status.repository.QueueIndex queues;
    @Inject
    LogStore logs;
    @Inject
    RunChanges changes;
    @Inject
    StopPublisher stops;
    @Inject
    dev.launch.status.service.PendingReasons pendingReasons;
    @Inject
    RunMoves moves;
    @Inject
    ReadModelProgress progress;
    @Inject
    LogProgress logProgress;
    @Inject
    RunLookups lookups;

    /**
     * Runs, newest first; page with {@code after} = the last run id seen ({@code next}). Filters, all optional
     * and combined: {@code queue}, {@code state} (one or several, comma-separated), {@code job},
     * {@code priority}, {@code agent}.
     */
    @GET
    public Uni<Map<String, Object>> list(@QueryParam("queue") String queue, @QueryParam("state") String state,
                                         @QueryParam("job") String job, @QueryParam("priority") String priority,
                                         @QueryParam("agent") String agent,
                                         @QueryParam("limit") @DefaultValue("100") int limit,
                                         @QueryParam("after") String after,
                                         @HeaderParam(ReadModelProgress.TOKEN_HEADER) String token) {
        if (limit < 1 || limit > MAX_LIMIT) {
            throw ProblemException.invalidField("limit", "must be between 1 and " + MAX_LIMIT);
        }
        List<String> where = new ArrayList<>();
        Tuple args = Tuple.tuple();
        if (queue != null) {
            Names.require("queue", queue);
            args.addString(queue);
            where.add("queue = $" + args.size());
        }
        if (state != null) {
            List<String> states = new ArrayList<>();
            for (String one : state.split(",", -1)) {
                states.add(parseState(one.trim()).name());
            }
            args.addArrayOfString(states.toArray(String[]::new));
            where.add("state = ANY($" + args.size() + ")");
        }
        if (job != null) {
            args.addString(Names.require("job", job));
            where.add("job = $" + args.size());
        }
        if (priority != null) {
            args.addString(Priority.parse(priority).orElseThrow(() -> ProblemException.invalidField("priority",
                    "must be one of " + Priority.labels())).label());
            where.add("priority = $" + args.size());
        }
        if (agent != null) {
            if (agent.isBlank() || agent.length() > 200) {
                throw ProblemException.invalidField("agent", "must be an agent id (1 to 200 characters)");
            }
            args.addString(agent);
            where.add("agent_id = $" + args.size());
        }
        if (after != null) {
            if (!RunIds.isValid(after)) {
                throw ProblemException.invalidField("after", "must be a run id from a previous page");
            }
            args.addString(after);
            where.add("run_id < $" + args.size());
        }
        args.addInteger(limit);
        String sql = "SELECT * FROM run" + (where.isEmpty() ? "" : " WHERE " + String.join(" AND ", where))
                + " ORDER BY run_id DESC LIMIT $" + args.size();
        return lookups.consistent(token).chain(() -> pool.preparedQuery(sql).execute(args)).map(rows -> {
            List<Map<String, Object>> items = new ArrayList<>();
            for (Row row : rows) {
                items.add(summary(row));
            }
            Map<String, Object> page = new LinkedHashMap<>();
            page.put("items", items);
            if (items.size() == limit) {
                page.put("next", items.get(items.size() - 1).get("runId"));
            }
            return page;
        });
    }

    /** Runs per state, optionally of one queue. */
    @GET
    @Path("/counts")
    public Uni<Map<String, Long>> counts(@QueryParam("queue") String queue) {
        if (queue != null) {
            Names.require("queue", queue);
        }
        return queues.ready().map(ready -> {
            Map<String, Long> held = queue == null ? queues.states() : queues.states(queue);
            Map<String, Long> counts = new LinkedHashMap<>();
            for (RunState s : RunState.values()) {
                counts.put(s.name(), held.getOrDefault(s.name(), 0L));
            }
            return counts;
        });
    }

    @GET
    @Path("/{runId}")
    public Uni<Map<String, Object>> get(@PathParam("runId") String runId,
                                        @HeaderParam(ReadModelProgress.TOKEN_HEADER) String token) {
        checkId(runId);
        return lookups.findConsistent(runId, token).chain(row -> {
            Map<String, Object> run = summary(row);
            boolean queued = RunState.QUEUED.name().equals(row.getString("state"))
                    && row.getLong("queue_offset") != null;
            // ahead of a queued run: every queued run of a higher level, and its own level's older runs
            Uni<long[]> ahead = queued
                    ? queues.ready().map(ready -> queues.ahead(row.getString("queue"), row.getShort("priority_rank"),
                            row.getLong("queue_offset")))
                    : Uni.createFrom().nullItem();
            return ahead.call(counts -> {
                if (counts == null) {
                    return Uni.createFrom().voidItem();
                }
                long higher = counts[0];
                long same = counts[1];
                run.put("position", higher + same);
                return pendingReasons.of(row.getString("queue"), higher, same)
                        .invoke(reason -> run.put("pendingReason", reason));
            }).chain(counts -> {
                return pool.preparedQuery("SELECT state, at, reason, event_type, attempt, agent_id, target_handle "
                        + "FROM run_history WHERE run_id = $1 ORDER BY seq").execute(Tuple.of(runId));
            }).map(rows -> {
                List<Map<String, Object>> history = new ArrayList<>();
                Map<Integer, Map<String, Object>> attempts = new java.util.TreeMap<>();
                for (Row h : rows) {
                    Map<String, Object> entry = new LinkedHashMap<>();
                    entry.put("state", h.getString("state"));
                    entry.put("at", h.getOffsetDateTime("at").toInstant());
                    if (h.getString("reason") != null) {
                        entry.put("reason", h.getString("reason"));
                    }
                    history.add(entry);
                    Integer n = h.getInteger("attempt");
                    if (n != null && h.getString("agent_id") != null) {
                        Map<String, Object> attempt = attempts.computeIfAbsent(n, k -> {
                            Map<String, Object> a = new LinkedHashMap<>();
                            a.put("attempt", k);
                            a.put("agents", new ArrayList<String>());
                            return a;
                        });
                        @SuppressWarnings("unchecked")
                        List<String> agents = (List<String>) attempt.get("agents");
                        if (!agents.contains(h.getString("agent_id"))) {
                            agents.add(h.getString("agent_id"));
                        }
                        if (h.getString("target_handle") != null) {
                            attempt.put("handle", h.getString("target_handle"));
                        }
                        attempt.put("outcome", h.getString("state"));
                    }
                }
                run.put("history", history);
                run.put("attempts", List.copyOf(attempts.values()));
                String request = row.getString("request");
                if (request != null) {
                    run.put("resolved", resolved(request));
                }
                return run;
            });
        });
    }

    /** The run's output as text (all attempts, or one with {@code attempt}). */
    @GET
    @Path("/{runId}/logs")
    @Produces(MediaType.TEXT_PLAIN)
    public Uni<Response> logs(@PathParam("runId") String runId, @QueryParam("attempt") Integer attempt,
                              @QueryParam("after") String after,
                              @HeaderParam(ReadModelProgress.TOKEN_HEADER) String token) {
        checkId(runId);
        if (after == null) {
            return lookups.findConsistent(runId, token).chain(row -> logs.read(runId, attempt))
                    .map(text -> Response.ok(text).build());
        }
        if (attempt != null) {
            throw ProblemException.invalidField("attempt", "not with after: a cursor reads every attempt on");
        }
        LogStore.Cursor cursor = cursor("after", after);
        return lookups.findConsistent(runId, token).chain(row -> readLogs(runId,
                        RunState.valueOf(row.getString("state")).isTerminal(), cursor))
                .map(read -> Response.ok(read.page().text())
                        .header(LOG_CURSOR, read.page().cursor().toString())
                        .header(LOG_COMPLETE, read.complete())
                        .build());
    }

    /**
     * The run's output live, as Server-Sent Events: a {@code log} event per page read (data
     * {@code {"cursor", "text"}}, the event id its cursor, so a reconnecting EventSource resumes with
     * {@code Last-Event-ID}), then one {@code complete} event when the run has ended and its last line is sent, and
     * the stream ends. From the start, or after the cursor {@code after} (as {@code /logs?after=} takes it).
     */
    @GET
    @Path("/{runId}/logs/stream")
    @Produces(MediaType.SERVER_SENT_EVENTS)
    public Multi<OutboundSseEvent> logStream(@PathParam("runId") String runId, @QueryParam("after") String after,
                                             @HeaderParam("Last-Event-ID") String lastEventId,
                                             @HeaderParam(ReadModelProgress.TOKEN_HEADER) String token,
                                             @Context Sse sse) {
        checkId(runId);
        LogStore.Cursor from = lastEventId != null && !lastEventId.isBlank() ? cursor("Last-Event-ID", lastEventId)
                : after == null ? LogStore.Cursor.START : cursor("after", after);
        // KnownRunFilter has found the run (or answered its 404 / 503) before the stream's headers are sent
        return new LogFollower(runId, from, sse, changes, model, (ended, at) -> readLogs(runId, ended, at)).events();
    }

    /** A page of a run's output after a cursor, and whether it is the last: the run has ended and all is read. */
    record LogRead(LogStore.Page page, boolean complete) {
    }

    private Uni<LogRead> readLogs(String runId, boolean ended, LogStore.Cursor after) {
        // whether the output is all stored is asked before it is read: when it was, the read has all of it
        Uni<Boolean> stored = ended ? logProgress.completeAfterEnd(runId).onFailure().recoverWithItem(false)
                : Uni.createFrom().item(false);
        return stored.chain(complete -> logs.readAfter(runId, after, LOG_PAGE)
                .map(page -> new LogRead(page, complete && !page.more())));
    }

    private static LogStore.Cursor cursor(String field, String text) {
        try {
            return LogStore.Cursor.parse(text);
        } catch (IllegalArgumentException e) {
            throw ProblemException.invalidField(field, e.getMessage());
        }
    }

    /**
     * Every run's state changes from now on, as Server-Sent Events (one JSON {@link RunChange} each), optionally
     * of one queue: what keeps a list of runs live. A client that reconnects reads the list afresh, then follows.
     */
    @GET
    @Path("/changes")
    @Produces(MediaType.SERVER_SENT_EVENTS)
    @RestStreamElementType(MediaType.APPLICATION_JSON)
    public Multi<RunChange> allChanges(@QueryParam("queue") String queue) {
        if (queue != null) {
            Names.require("queue", queue);
        }
        return queue == null ? changes.stream() : changes.stream().filter(c -> queue.equals(c.queue()));
    }

    /** Server-Sent Events: the current state, then every change, ending after a terminal state. */
    @GET
    @Path("/{runId}/events")
    @Produces(MediaType.SERVER_SENT_EVENTS)
    @RestStreamElementType(MediaType.APPLICATION_JSON)
    public Multi<RunChange> events(@PathParam("runId") String runId,
                                   @HeaderParam(ReadModelProgress.TOKEN_HEADER) String token) {
        checkId(runId);
        // KnownRunFilter has found the run (or answered its 404 / 503) before the stream's headers are sent
        return Multi.createFrom().uni(model.find(runId)).onItem().transformToMultiAndConcatenate(row -> row == null
                ? Multi.createFrom().failure(ProblemException.notFound("no run " + runId))
                : stream(runId, row.getString("queue")));
    }

    private Multi<RunChange> stream(String runId, String queue) {
        Multi<RunChange> live = changes.stream().filter(c -> c.runId().equals(runId));
        return Multi.createFrom().emitter(emitter -> {
            var subscription = live.subscribe().with(change -> {
                emitter.emit(change);
                if (RunState.valueOf(change.state()).isTerminal()) {
                    emitter.complete();
                }
            }, emitter::fail);
            emitter.onTermination(subscription::cancel);
            model.stateOf(runId).subscribe().with(state -> {
                if (state == null) {
                    emitter.fail(ProblemException.notFound("no run " + runId));
                    return;
                }
                emitter.emit(new RunChange(runId, queue, state, Instant.now(), null));
                if (RunState.valueOf(state).isTerminal()) {
                    emitter.complete();
                }
            }, emitter::fail);
        });
    }

    /**
     * Asks for the run to stop: 202; 409 when it has already ended. A run accepted a moment ago may not have
     * reached the read model yet: it is waited for (ADR 0004, {@link #findConsistent}) before any 404.
     */
    @POST
    @Path("/{runId}/stop")
    public Uni<Response> stop(@PathParam("runId") String runId,
                              @HeaderParam(ReadModelProgress.TOKEN_HEADER) String token) {
        checkId(runId);
        return lookups.findConsistent(runId, token).chain(row -> {
            RunState state = RunState.valueOf(row.getString("state"));
            if (state.isTerminal()) {
                throw ProblemException.conflict("run " + runId + " has already ended (" + state + "); nothing to stop");
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("runId", runId);
            body.put("state", state.name());
            body.put("stopRequested", true);
            if (row.getBoolean("stop_requested") || state == RunState.STOPPING) {
                return Uni.createFrom().item(Response.accepted(body).build());
            }
            return stops.stop(runId, row.getString("queue"), "stopped by request")
                    .onFailure().transform(e -> ProblemException.unavailable(
                            "Kafka did not accept the stop request; retry shortly.", 5))
                    .replaceWith(Response.accepted(body).build());
        });
    }

    /** The body of {@code PATCH /api/v1/runs/{runId}}. */
    public record RunChangeRequest(String priority) {
    }

    /**
     * Moves a QUEUED run to the tail of another priority level: 200 with the run's new priority; 409 when the run
     * is no longer queued (an agent took it first: it keeps its place and is launched once), or its queue has no
     * priorities. Asking for the level the run already has changes nothing.
     */
    @PATCH
    @Path("/{runId}")
    @Consumes(MediaType.APPLICATION_JSON)
    public Uni<Map<String, Object>> change(@PathParam("runId") String runId, RunChangeRequest change,
                                           @HeaderParam(ReadModelProgress.TOKEN_HEADER) String token) {
        checkId(runId);
        if (change == null || change.priority() == null) {
            throw ProblemException.invalidField("priority", "required: one of " + Priority.labels()
                    + " (the only field a run's PATCH changes)");
        }
        Priority level = Priority.parse(change.priority()).orElseThrow(() -> ProblemException.invalidField(
                "priority", "'" + change.priority() + "' is not a priority; use one of " + Priority.labels()));
        return lookups.findConsistent(runId, token).chain(row -> {
            RunState state = RunState.valueOf(row.getString("state"));
            String previous = row.getString("priority");
            if (previous == null) {
                throw ProblemException.conflict("queue '" + row.getString("queue") + "' does not enable "
                        + "prioritization; its runs are taken first in, first out");
            }
            if (state != RunState.QUEUED) {
                throw ProblemException.conflict("run " + runId + " is " + state + "; only a QUEUED run can be "
                        + "reprioritized");
            }
            if (level.label().equals(previous)) {
                return Uni.createFrom().item(changed(runId, level.label(), previous, false));
            }
            if (row.getString("request") == null) {
                throw ProblemException.conflict("run " + runId + " was queued by an older release that did not "
                        + "record its request; it cannot be moved");
            }
            RunRequest queued = Events.MAPPER.convertValue(readTree(row.getString("request")), RunRequest.class);
            RunRequest current = queued.movedTo(previous, row.getString("item_id"));
            return moves.move(current, level, previous)
                    .onFailure().transform(e -> ProblemException.unavailable(
                            "Kafka did not take the change; nothing was changed. Retry shortly.", 5))
                    .chain(outcome -> {
                        if (!outcome.moved()) {
                            throw ProblemException.conflict("run " + runId + " was taken by an agent before it "
                                    + "could be moved; it keeps priority " + previous + " and is launched once");
                        }
                        // answer once the read model shows the move, so a GET right after agrees (bounded)
                        return model.find(runId)
                                .onItem().transform(r -> r != null && outcome.item().item().equals(
                                        r.getString("item_id")) ? r : null)
                                .onItem().ifNull().failWith(() -> new IllegalStateException("not applied yet"))
                                .onFailure().retry().withBackOff(Duration.ofMillis(10), Duration.ofMillis(100))
                                .expireIn(2000)
                                .onFailure().recoverWithNull()
                                .replaceWith(changed(runId, level.label(), previous, true));
                    });
        });
    }

    private static Map<String, Object> changed(String runId, String priority, String previous, boolean moved) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("runId", runId);
        body.put("state", RunState.QUEUED.name());
        body.put("priority", priority);
        body.put("previousPriority", previous);
        body.put("moved", moved);
        return body;
    }

    private static com.fasterxml.jackson.databind.JsonNode readTree(String json) {
        try {
            return Events.MAPPER.readTree(json);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("unreadable stored request: " + e.getMessage(), e);
        }
    }

    /** What the run was queued with: command, inputs, source and the target's config. */
    private static Map<String, Object> resolved(String requestJson) {
        try {
            var request = dev.launch.common.event.Events.MAPPER.readTree(requestJson);
            Map<String, Object> resolved = new LinkedHashMap<>();
            resolved.put("command", request.get("command"));
            resolved.put("inputs", request.get("inputs"));
            resolved.put("source", request.get("source"));
            if (request.path("target").has("config")) {
                resolved.put("config", request.path("target").get("config"));
            }
            if (request.path("target").has("variables")) {
                resolved.put("templateVariables", request.path("target").get("variables"));
            }
            return resolved;
        } catch (java.io.IOException e) {
            return Map.of("unreadable", e.getMessage());
        }
    }

    private static void checkId(String runId) {
        if (!RunIds.isValid(runId)) {
            throw ProblemException.invalidField("runId", "'" + runId + "' is not a run id (a UUID)");
        }
    }

    private static RunState parseState(String state) {
        try {
            return RunState.valueOf(state.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw ProblemException.invalidField("state", "must be one of " + List.of(RunState.values()));
        }
    }

    private static Map<String, Object> summary(Row row) {
        Map<String, Object> run = new LinkedHashMap<>();
        run.put("runId", row.getString("run_id"));
        run.put("queue", row.getString("queue"));
        run.put("job", row.getString("job"));
        run.put("jobVersion", row.getInteger("job_version"));
        run.put("state", row.getString("state"));
        run.put("attempt", row.getInteger("attempt"));
        run.put("agentId", row.getString("agent_id"));
        if (row.getString("target_type") != null) {
            Map<String, Object> target = new LinkedHashMap<>();
            target.put("type", row.getString("target_type"));
            target.put("handle", row.getString("target_handle"));
            run.put("target", target);
        }
        if (row.getInteger("exit_code") != null) {
            run.put("exitCode", row.getInteger("exit_code"));
        }
        if (row.getString("failure_stage") != null) {
            run.put("failure", Map.of("stage", row.getString("failure_stage"), "reason",
                    row.getString("failure_reason") == null ? "" : row.getString("failure_reason")));
        }
        if (row.getString("priority") != null) {
            run.put("priority", row.getString("priority"));
        }
        if (row.getBoolean("stop_requested")) {
            run.put("stopRequested", true);
        }
        if (row.getString("pending_reason") != null) {
            // why a STARTING, RUNNING or STOPPING run is where it is, as its target says (RunProgressed)
            run.put("pendingReason", row.getString("pending_reason"));
        }
        run.put("createdAt", row.getOffsetDateTime("created_at").toInstant());
        run.put("updatedAt", row.getOffsetDateTime("updated_at").toInstant());
        return run;
    }
}
