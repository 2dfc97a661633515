package dev.launch.queue.repository;

import dev.launch.common.event.Events;
import dev.launch.common.event.QueueChanged;
import dev.launch.common.problem.ProblemException;
import dev.launch.common.run.Priority;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.SqlClient;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The enqueue path's database work, on the plain reactive SQL client (an enqueue is a few indexed statements;
 * the ORM's per-statement cost showed as a third of the service's CPU under load). Queue definitions are kept
 * for a second; a change made through this service is seen at once ({@link #forget}), one made through another
 * instance of it within a second.
 */
@ApplicationScoped
public class EnqueueStore {
    private static final long QUEUE_TTL_NANOS = 1_000_000_000L;

    @Inject
    Pool pool;

    private record Cached(QueueChanged queue, long at) {
    }

    private final Map<String, Cached> queues = new ConcurrentHashMap<>();

    public Pool pool() {
        return pool;
    }

    /** The queue named {@code name}, or a 404 problem. */
    /** Whether the queue was looked up here lately and existed (a check that never waits). */
    public boolean known(String name) {
        return queues.containsKey(name);
    }

    public Uni<QueueChanged> queue(String name) {
        Cached cached = queues.get(name);
        if (cached != null && System.nanoTime() - cached.at() < QUEUE_TTL_NANOS) {
            return Uni.createFrom().item(cached.queue());
        }
        return pool.preparedQuery("SELECT document FROM queue WHERE name = $1").execute(Tuple.of(name)).map(rows -> {
            var it = rows.iterator();
            if (!it.hasNext()) {
                queues.remove(name);
                throw ProblemException.notFound("no queue named '" + name + "'");
            }
            try {
                QueueChanged queue = Events.MAPPER.readValue(it.next().getString("document"), QueueChanged.class);
                queues.put(name, new Cached(queue, System.nanoTime()));
                return queue;
            } catch (java.io.IOException e) {
                throw new IllegalStateException("stored queue " + name + " cannot be read", e);
            }
        });
    }

    /** The queue changed or went: read it afresh next time. */
    public void forget(String name) {
        queues.remove(name);
    }

    /** The answer given to an earlier enqueue with this idempotency key, or null (none, or not answered yet). */
    public Uni<String> earlierAnswer(String queue, String key) {
        return pool.preparedQuery("SELECT response FROM enqueued_run WHERE queue = $1 AND idempotency_key = $2 "
                        + "AND queue_offset IS NOT NULL")
                .execute(Tuple.of(queue, key))
                .map(rows -> rows.iterator().hasNext() ? rows.iterator().next().getString("response") : null);
    }

    /** The answers given to earlier enqueues with these idempotency keys, by key (keys not answered yet left out). */
    public Uni<Map<String, String>> earlierAnswers(String queue, List<String> keys) {
        if (keys.isEmpty()) {
            return Uni.createFrom().item(Map.of());
        }
        return pool.preparedQuery("SELECT idempotency_key, response FROM enqueued_run WHERE queue = $1 "
                        + "AND idempotency_key = ANY($2) AND queue_offset IS NOT NULL")
                .execute(Tuple.of(queue, keys.toArray(new String[0])))
                .map(rows -> {
                    Map<String, String> answers = new java.util.HashMap<>();
                    rows.forEach(row -> answers.put(row.getString("idempotency_key"), row.getString("response")));
                    return answers;
                });
    }

    /** A run to record: its key (or null), offset (null while only claimed) and answer. */
    public record Row(String runId, String key, String priority, Instant createdAt, Long offset, String response) {
        Tuple tuple(String queue) {
            return Tuple.tuple().addString(runId).addString(queue).addString(key).addString(priority)
                    .addOffsetDateTime(createdAt.atOffset(ZoneOffset.UTC)).addLong(offset).addString(response);
        }
    }

    /**
     * Claims the idempotency keys of {@code rows} in one round trip, first removing unfinished claims of these
     * keys older than {@code stale} (left by a crash); answers the keys another enqueue holds (not claimed here).
     */
    public Uni<Set<String>> claimAll(String queue, List<Row> rows, java.time.Duration stale) {
        if (rows.isEmpty()) {
            return Uni.createFrom().item(Set.of());
        }
        String[] keys = rows.stream().map(Row::key).toArray(String[]::new);
        return pool.preparedQuery("DELETE FROM enqueued_run WHERE queue = $1 AND idempotency_key = ANY($2) "
                        + "AND queue_offset IS NULL AND created_at < $3")
                .execute(Tuple.of(queue, keys, java.time.OffsetDateTime.now(ZoneOffset.UTC).minus(stale)))
                .chain(() -> pool.preparedQuery("INSERT INTO enqueued_run (run_id, queue, idempotency_key, priority, "
                                + "created_at, queue_offset, response) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                                + "ON CONFLICT (queue, idempotency_key) DO NOTHING RETURNING idempotency_key")
                        .executeBatch(rows.stream().map(r -> r.tuple(queue)).toList()))
                .map(result -> {
                    Set<String> held = new java.util.HashSet<>(java.util.Arrays.asList(keys));
                    for (io.vertx.mutiny.sqlclient.RowSet<io.vertx.mutiny.sqlclient.Row> rs = result; rs != null;
                         rs = rs.next()) {
                        rs.forEach(row -> held.remove(row.getString("idempotency_key")));
                    }
                    return held;
                });
    }

    /** Withdraws the claims of runs Kafka did not take. */
    public Uni<Void> withdrawAll(List<String> runIds) {
        if (runIds.isEmpty()) {
            return Uni.createFrom().voidItem();
        }
        return pool.preparedQuery("DELETE FROM enqueued_run WHERE run_id = ANY($1) AND queue_offset IS NULL")
                .execute(Tuple.of(runIds.toArray(new String[0]))).replaceWithVoid();
    }

    /** Records accepted runs without keys, and completes the claims of those with keys, in two round trips at most. */
    public Uni<Void> recordAll(String queue, List<Row> rows) {
        List<Tuple> inserts = rows.stream().filter(r -> r.key() == null).map(r -> r.tuple(queue)).toList();
        List<Tuple> completions = rows.stream().filter(r -> r.key() != null)
                .map(r -> Tuple.of(r.runId(), r.offset(), r.response())).toList();
        Uni<Void> inserted = inserts.isEmpty() ? Uni.createFrom().voidItem()
                : pool.preparedQuery("INSERT INTO enqueued_run (run_id, queue, idempotency_key, priority, created_at, "
                        + "queue_offset, response) VALUES ($1, $2, $3, $4, $5, $6, $7)").executeBatch(inserts)
                .replaceWithVoid();
        return inserted.chain(() -> completions.isEmpty() ? Uni.createFrom().voidItem()
                : pool.preparedQuery("UPDATE enqueued_run SET queue_offset = $2, response = $3 WHERE run_id = $1")
                .executeBatch(completions).replaceWithVoid());
    }

    /** Records an accepted run (offset and answer may come later, through {@link #complete}). */
    public Uni<Void> insert(SqlClient client, String runId, String queue, String key, String priority,
                            Instant createdAt, Long offset, String response) {
        return client.preparedQuery("INSERT INTO enqueued_run (run_id, queue, idempotency_key, priority, created_at, "
                        + "queue_offset, response) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .execute(Tuple.tuple().addString(runId).addString(queue).addString(key).addString(priority)
                        .addOffsetDateTime(createdAt.atOffset(ZoneOffset.UTC)).addLong(offset).addString(response))
                .replaceWithVoid();
    }

    /** Withdraws the claim of a run that Kafka did not take. */
    public Uni<Void> withdraw(String runId) {
        return pool.preparedQuery("DELETE FROM enqueued_run WHERE run_id = $1 AND queue_offset IS NULL")
                .execute(Tuple.of(runId)).replaceWithVoid();
    }

    /** Removes a claim of {@code key} that never completed and is older than {@code stale}; true if one was. */
    public Uni<Boolean> takeOverStaleClaim(String queue, String key, java.time.Duration stale) {
        return pool.preparedQuery("DELETE FROM enqueued_run WHERE queue = $1 AND idempotency_key = $2 "
                        + "AND queue_offset IS NULL AND created_at < $3")
                .execute(Tuple.of(queue, key, java.time.OffsetDateTime.now(ZoneOffset.UTC).minus(stale)))
                .map(result -> result.rowCount() > 0);
    }

    public Uni<Void> complete(SqlClient client, String runId, long offset, String response) {
        return client.preparedQuery("UPDATE enqueued_run SET queue_offset = $2, response = $3 WHERE run_id = $1")
                .execute(Tuple.of(runId, offset, response)).replaceWithVoid();
    }

    /**
     * Offsets of the runs accepted on {@code queue}'s level {@code level} (null: a queue without levels) from
     * offset {@code from} on, in order.
     */
    public Uni<List<Long>> acceptedFrom(String queue, Priority level, long from) {
        String sql = "SELECT queue_offset FROM enqueued_run WHERE queue = $1 AND queue_offset >= $2 AND "
                + (level == null ? "priority IS NULL" : "priority = $3") + " ORDER BY queue_offset";
        Tuple args = level == null ? Tuple.of(queue, from) : Tuple.of(queue, from, level.label());
        return pool.preparedQuery(sql).execute(args).map(rows -> {
            List<Long> offsets = new ArrayList<>(rows.size());
            rows.forEach(row -> offsets.add(row.getLong("queue_offset")));
            return offsets;
        });
    }
}
