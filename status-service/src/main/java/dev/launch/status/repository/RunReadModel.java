package dev.launch.status.repository;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.run.Priority;
import dev.launch.common.run.RunState;
import dev.launch.common.run.RunStateMachine;
import dev.launch.messaging.RunLog;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.SqlConnection;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import dev.launch.status.messaging.RunMoves;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Applies run lifecycle facts to the read model, exactly once per event id and only where the state
 * machine allows the transition. The facts of one poll are one database transaction; once it is committed the
 * changes are applied to {@link QueueIndex} too.
 */
@ApplicationScoped
public class RunReadModel {
    private static final Logger LOG = Logger.getLogger(RunReadModel.class);
    /** Facts an agent reports about the attempt it holds; those of an earlier attempt change nothing. */
    private static final java.util.Set<String> AGENT_REPORTS = java.util.Set.of(EventTypes.RUN_CLAIMED,
            EventTypes.RUN_STARTING, EventTypes.RUN_RUNNING, EventTypes.RUN_FINISHED, EventTypes.RUN_FAILED,
            EventTypes.RUN_STOPPING, EventTypes.RUN_STOPPED, EventTypes.RUN_PREEMPTED, EventTypes.RUN_PROGRESSED,
            EventTypes.RUN_ADOPTED);

    @Inject
    Pool pool;
    @Inject
    RunMoves moves;
    @Inject
    QueueIndex index;
    @Inject
    io.micrometer.core.instrument.MeterRegistry metrics;
    @Inject
    dev.launch.status.metrics.RunMetrics runMetrics;
    private io.micrometer.core.instrument.Counter unknownRunFacts;

    @jakarta.annotation.PostConstruct
    void meters() {
        unknownRunFacts = io.micrometer.core.instrument.Counter.builder("launch_status_unknown_run_facts_total")
                .description("agent reports about runs the read model never saw queued (their RunQueued missing)")
                .register(metrics);
    }

    private final java.util.concurrent.atomic.AtomicBoolean loseNextCommitAnswer =
            new java.util.concurrent.atomic.AtomicBoolean();

    /** For tests: the next transaction commits, and then fails as if its answer had been lost on the way. */
    public void loseNextCommitAnswer() {
        loseNextCommitAnswer.set(true);
    }

    /** A database error about the data (SQLSTATE class 22) or a constraint (23): trying again changes nothing. */
    public static boolean refusedForItsContent(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof io.vertx.pgclient.PgException pg && pg.getSqlState() != null
                    && (pg.getSqlState().startsWith("22") || pg.getSqlState().startsWith("23"))) {
                return true;
            }
        }
        return false;
    }

    /** A change committed, and how to bring {@link QueueIndex} along once it is. */
    private record Applied(RunChange change, Runnable indexUpdate) {
    }

    /** A lifecycle event with its payload decoded. */
    public record Fact(EventEnvelope event, RunLifecycle payload) {
        /** Decodes the payload; an {@link IllegalArgumentException} or Jackson error when it is not a fact. */
        public static Fact of(EventEnvelope event) {
            return new Fact(event, event.payloadAs(RunLifecycle.class));
        }
    }

    /**
     * Applies facts in order in one transaction (one commit for a whole poll of {@code launch.runs}): the
     * changes applied, in order. Facts that change nothing are left out: a duplicate, a transition the machine
     * refuses, a claim of an item the run no longer waits as, or a reprioritization that lost to an agent's take. Moves first wait, outside the
     * transaction, until this service has read their commands. On a failure nothing of the batch is applied.
     */
    public Uni<List<RunChange>> applyAll(List<Fact> facts) {
        if (facts.isEmpty()) {
            return Uni.createFrom().item(List.of());
        }
        // the moves' commands are awaited first, outside the index's turn (up to 30 s); then the transaction and the
        // index updates after its commit go as one, alone among the index's writers
        return index.ready().chain(() -> movesHeld(facts)).chain(held -> index.exclusive(() -> index.reloadIfStale()
                .chain(() -> pool.withTransaction(conn ->
                Multi.createFrom().range(0, facts.size()).onItem().transformToUniAndConcatenate(i -> held.get(i)
                                ? applyChecked(conn, facts.get(i).event(), facts.get(i).payload())
                                : markSeen(conn, facts.get(i).event(), facts.get(i).payload()))
                        .filter(Optional::isPresent).map(Optional::get).collect().asList()
        )).invoke(() -> {
            if (loseNextCommitAnswer.compareAndSet(true, false)) {
                throw new IllegalStateException("the answer to a commit was lost (as arranged by a test)");
            }
        }).onFailure(e -> !refusedForItsContent(e)).invoke(e -> {
            // the commit may have landed: the retry would find these facts seen and apply nothing to the index
            index.reload();
        }).map(applied -> {
            List<RunChange> changes = new ArrayList<>(applied.size());
            for (Applied a : applied) {
                a.indexUpdate().run();
                changes.add(a.change());
            }
            return changes;
        })));
    }

    /** Per fact: false for a move that did not hold (an agent took the item first), else true. */
    private Uni<List<Boolean>> movesHeld(List<Fact> facts) {
        return Multi.createFrom().iterable(facts).onItem().transformToUniAndConcatenate(fact ->
                movesItem(fact.event().type(), fact.payload()) ? moveOutcome(fact.payload())
                        : Uni.createFrom().item(Boolean.TRUE)).collect().asList();
    }

    /** Waits (bounded) until this service has read the move's command; it is in the fact's transaction. */
    private Uni<Boolean> moveOutcome(RunLifecycle fact) {
        return Uni.createFrom().item(() -> moves.outcome(fact.runId(), fact.itemId()).orElse(null))
                .onItem().ifNull().failWith(() -> new IllegalStateException("the MoveRun of run " + fact.runId()
                        + " has not been read yet"))
                .onFailure().retry().withBackOff(Duration.ofMillis(5), Duration.ofMillis(200)).expireIn(30_000);
    }

    private Uni<Optional<Applied>> markSeen(SqlConnection conn, EventEnvelope event, RunLifecycle fact) {
        RunLog.infof(LOG, fact.runId(), fact.queue(), fact.agentId(),
                "run %s: %s did not hold (an agent took or started it first)", fact.runId(), fact.reason());
        return conn.preparedQuery("INSERT INTO run_event_seen (event_id) VALUES ($1) ON CONFLICT DO NOTHING")
                .execute(Tuple.of(event.eventId())).replaceWith(Optional.empty());
    }

    private Uni<Optional<Applied>> applyChecked(SqlConnection conn, EventEnvelope event, RunLifecycle fact) {
        return conn.preparedQuery("INSERT INTO run_event_seen (event_id) VALUES ($1) ON CONFLICT DO NOTHING")
                .execute(Tuple.of(event.eventId()))
                .chain(inserted -> inserted.rowCount() == 0 ? Uni.createFrom().item(Optional.<Applied>empty())
                        : conn.preparedQuery("SELECT state, item_id, attempt, queue, priority, priority_rank, "
                                + "queue_offset, created_at, running_at FROM run WHERE run_id = $1 FOR UPDATE")
                        .execute(Tuple.of(fact.runId()))
                        .chain(rows -> {
                            Row row = rows.iterator().hasNext() ? rows.iterator().next() : null;
                            RunState current = row == null ? null : RunState.valueOf(row.getString("state"));
                            String item = row == null ? null : row.getString("item_id");
                            if (EventTypes.RUN_CLAIMED.equals(event.type()) && fact.itemId() != null
                                    && item != null && !item.equals(fact.itemId())) {
                                RunLog.infof(LOG, fact.runId(), fact.queue(), fact.agentId(),
                                        "ignoring a claim of run %s's item %s: the run was moved to item %s",
                                        fact.runId(), fact.itemId(), item);
                                return Uni.createFrom().item(Optional.<Applied>empty());
                            }
                            if (row != null && AGENT_REPORTS.contains(event.type()) && fact.attempt() != null
                                    && fact.attempt() < row.getInteger("attempt")) {
                                RunLog.infof(LOG, fact.runId(), fact.queue(), fact.agentId(),
                                        "ignoring %s of run %s's attempt %d: the run is at attempt %d", event.type(),
                                        fact.runId(), fact.attempt(), row.getInteger("attempt"));
                                return Uni.createFrom().item(Optional.<Applied>empty());
                            }
                            Optional<RunState> next = RunStateMachine.next(current, event.type());
                            if (next.isEmpty() && current == null && AGENT_REPORTS.contains(event.type())) {
                                // an agent works on a run this service never saw queued: its RunQueued is missing
                                RunLog.errorf(LOG, fact.runId(), fact.queue(), fact.agentId(),
                                        "%s for run %s of queue %s, which the read model does not know (its "
                                        + "RunQueued was never read); the run is not shown", event.type(),
                                        fact.runId(), fact.queue());
                                unknownRunFacts.increment();
                                return Uni.createFrom().item(Optional.<Applied>empty());
                            }
                            if (next.isEmpty()) {
                                RunLog.infof(LOG, fact.runId(), fact.queue(), fact.agentId(),
                                        "ignoring %s for run %s in state %s (not a transition the state machine "
                                        + "allows)", event.type(), fact.runId(), current);
                                return Uni.createFrom().item(Optional.<Applied>empty());
                            }
                            return write(conn, event, fact, row, current, next.get());
                        }));
    }

    private Uni<Optional<Applied>> write(SqlConnection conn, EventEnvelope event, RunLifecycle fact, Row old,
                                         RunState current, RunState next) {
        OffsetDateTime at = event.occurredAt().atOffset(ZoneOffset.UTC);
        Uni<?> row;
        Runnable indexUpdate;
        if (current == null) {
            indexUpdate = () -> index.changed(fact.queue(), null, 0, null, next, fact.priority(), fact.queueOffset());
            row = conn.preparedQuery("INSERT INTO run (run_id, queue, job, job_version, state, attempt, queue_offset, "
                            + "priority, created_at, updated_at, request, item_id, priority_rank, state_since) VALUES "
                            + "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $10)")
                    .execute(Tuple.tuple()
                            .addString(fact.runId()).addString(fact.queue()).addString(fact.job())
                            .addInteger(fact.jobVersion()).addString(next.name())
                            .addInteger(fact.attempt() == null ? 1 : fact.attempt()).addLong(fact.queueOffset())
                            .addString(fact.priority())
                            .addOffsetDateTime(fact.enqueuedAt() == null ? at
                                    : fact.enqueuedAt().atOffset(ZoneOffset.UTC))
                            .addOffsetDateTime(at)
                            .addString(fact.request() == null ? null
                                    : dev.launch.common.event.Events.MAPPER.valueToTree(fact.request()).toString())
                            .addString(fact.itemId() == null ? fact.runId() : fact.itemId())
                            .addShort(rank(fact.priority())));
        } else if (movesItem(event.type(), fact)) {
            // a hand-back keeps its attempt, a retry comes with the next one; either way the run waits afresh
            indexUpdate = () -> index.changed(old.getString("queue"), current, old.getShort("priority_rank"),
                    old.getLong("queue_offset"), next, fact.priority(), fact.queueOffset());
            row = conn.preparedQuery("UPDATE run SET state = $2, item_id = $3, priority = $4, priority_rank = $5, "
                            + "queue_offset = $6, agent_id = NULL, updated_at = $7, attempt = COALESCE($8, attempt), "
                            + "target_handle = NULL, exit_code = NULL, "
                            + "state_since = CASE WHEN $9 THEN $7 ELSE state_since END WHERE run_id = $1")
                    .execute(Tuple.tuple().addString(fact.runId()).addString(next.name()).addString(fact.itemId())
                            .addString(fact.priority()).addShort(rank(fact.priority())).addLong(fact.queueOffset())
                            .addOffsetDateTime(at).addInteger(fact.attempt()).addBoolean(current != next));
        } else {
            boolean stopRequest = EventTypes.RUN_STOP_REQUESTED.equals(event.type());
            short rank = old.getShort("priority_rank");
            Long offset = old.getLong("queue_offset");
            String priority = old.getString("priority");
            indexUpdate = () -> index.changed(old.getString("queue"), current, rank, offset, next, priority, offset);
            // a reason stays while the state does; RunProgressed sets it, any move clears it
            boolean progressed = EventTypes.RUN_PROGRESSED.equals(event.type());
            String pending = progressed ? fact.reason() : null;
            boolean keepPending = next == current && !progressed;
            boolean agentReport = AGENT_REPORTS.contains(event.type());
            row = conn.preparedQuery("UPDATE run SET state = $2, "
                            + "attempt = COALESCE($3, attempt), agent_id = COALESCE($4, agent_id), "
                            + "target_type = COALESCE($5, target_type), target_handle = COALESCE($6, target_handle), "
                            + "exit_code = COALESCE($7, exit_code), failure_stage = COALESCE($8, failure_stage), "
                            + "failure_reason = CASE WHEN $8 IS NULL THEN failure_reason ELSE $9 END, "
                            + "stop_requested = stop_requested OR $10, updated_at = $11, "
                            + "pending_reason = CASE WHEN $13 THEN pending_reason ELSE $12 END, "
                            + "agent_at = CASE WHEN $14 THEN $11 ELSE agent_at END, "
                            + "state_since = CASE WHEN $15 THEN $11 ELSE state_since END, "
                            + "running_at = CASE WHEN $16 THEN $11 ELSE running_at END WHERE run_id = $1")
                    .execute(Tuple.tuple()
                            .addString(fact.runId()).addString(next.name()).addInteger(fact.attempt())
                            .addString(fact.agentId()).addString(fact.targetType()).addString(fact.targetHandle())
                            .addInteger(fact.exitCode()).addString(fact.stage()).addString(fact.reason())
                            .addBoolean(stopRequest).addOffsetDateTime(at).addString(pending).addBoolean(keepPending)
                            .addBoolean(agentReport).addBoolean(current != next)
                            .addBoolean(next == RunState.RUNNING && current != RunState.RUNNING));
        }
        return row.chain(() -> conn.preparedQuery("INSERT INTO run_history (event_id, run_id, state, event_type, at, "
                                + "reason, attempt, agent_id, target_handle) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                        .execute(Tuple.tuple().addUUID(event.eventId()).addString(fact.runId()).addString(next.name())
                                .addString(event.type()).addOffsetDateTime(at).addString(fact.reason())
                                .addInteger(fact.attempt()).addString(fact.agentId()).addString(fact.targetHandle())))
                .replaceWith(Optional.of(new Applied(new RunChange(fact.runId(),
                        old == null ? fact.queue() : old.getString("queue"), next.name(), event.occurredAt(),
                        fact.reason()), () -> {
                    indexUpdate.run();
                    observed(fact, old, current, next, event.occurredAt());
                })));
    }

    /** A committed transition, for the operations metrics (never called for a fact that changed nothing). */
    private void observed(RunLifecycle fact, Row old, RunState current, RunState next, java.time.Instant at) {
        if (current == null) {
            runMetrics.known(fact.queue()); // its counters at 0 before its first run ends
            return;
        }
        if (current == next) {
            return;
        }
        int attempt = fact.attempt() != null ? fact.attempt() : old.getInteger("attempt");
        OffsetDateTime created = old.getOffsetDateTime("created_at");
        OffsetDateTime running = old.getOffsetDateTime("running_at");
        runMetrics.transition(old.getString("queue"), current, next, attempt,
                created == null ? null : created.toInstant(), running == null ? null : running.toInstant(), at,
                fact.stage());
    }

    /** A reprioritization, or a hand-back of a lost agent's run: the run now waits as a new item. */
    private static boolean movesItem(String type, RunLifecycle fact) {
        return EventTypes.RUN_REPRIORITIZED.equals(type)
                || (EventTypes.RUN_REQUEUED.equals(type) && fact.itemId() != null);
    }

    /** The rank of a level (0 = critical .. 3 = low); 0 for runs of queues without priorities. */
    public static short rank(String priority) {
        return (short) Priority.parse(priority).map(Priority::rank).orElse(0).intValue();
    }

    /** The run's current state, or null when unknown. */
    public Uni<String> stateOf(String runId) {
        return pool.preparedQuery("SELECT state FROM run WHERE run_id = $1").execute(Tuple.of(runId))
                .map(rows -> {
                    var it = rows.iterator();
                    return it.hasNext() ? it.next().getString("state") : null;
                });
    }

    public Uni<Row> find(String runId) {
        return pool.preparedQuery("SELECT * FROM run WHERE run_id = $1").execute(Tuple.of(runId))
                .map(rows -> rows.iterator().hasNext() ? rows.iterator().next() : null);
    }
}
