package dev.launch.status.repository;

import dev.launch.common.event.RunLogBatch;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

/**
 * Runs' output, stored per batch; a redelivered batch (same run, attempt, seq) is stored once. Lines that carry
 * their target position are stored only past the last position stored for the attempt: an agent that adopts a
 * run reads its output again from where the store ended (or earlier), and each line is kept once.
 */
@ApplicationScoped
public class LogStore {
    @Inject
    Pool pool;

    public Uni<Void> store(RunLogBatch batch) {
        boolean positioned = !batch.lines().isEmpty() && batch.lines().stream().allMatch(l -> l.position() != null);
        if (!positioned) {
            StringBuilder content = new StringBuilder();
            batch.lines().forEach(line -> content.append(line.text()).append('\n'));
            return insert(batch, batch.seq(), content.toString(), null);
        }
        return lastPosition(batch.runId(), batch.attempt()).chain(last -> {
            StringBuilder content = new StringBuilder();
            Long first = null;
            long lastKept = -1;
            for (RunLogBatch.Line line : batch.lines()) {
                if (last != null && line.position() <= last) {
                    continue;
                }
                if (first == null) {
                    first = line.position();
                }
                lastKept = line.position();
                content.append(line.text()).append('\n');
            }
            return first == null ? Uni.createFrom().voidItem() : insert(batch, first, content.toString(), lastKept);
        });
    }

    private Uni<Void> insert(RunLogBatch batch, long seq, String content, Long lastPosition) {
        return pool.preparedQuery("INSERT INTO run_log (run_id, attempt, seq, content, last_position) VALUES ($1, $2, "
                        + "$3, $4, $5) ON CONFLICT DO NOTHING")
                .execute(Tuple.of(batch.runId(), batch.attempt(), seq, content, lastPosition))
                .replaceWithVoid();
    }

    /** The target position of the last line stored for the attempt, or null when none carries one. */
    public Uni<Long> lastPosition(String runId, int attempt) {
        return pool.preparedQuery("SELECT max(last_position) AS last FROM run_log WHERE run_id = $1 AND attempt = $2")
                .execute(Tuple.of(runId, attempt))
                .map(rows -> rows.iterator().hasNext() ? rows.iterator().next().getLong("last") : null);
    }

    /** The run's output, attempts in order; {@code attempt} null for all attempts. */
    public Uni<String> read(String runId, Integer attempt) {
        String sql = "SELECT content FROM run_log WHERE run_id = $1" + (attempt == null ? "" : " AND attempt = $2")
                + " ORDER BY attempt, seq";
        Tuple args = attempt == null ? Tuple.of(runId) : Tuple.of(runId, attempt);
        return pool.preparedQuery(sql).execute(args).map(rows -> {
            StringBuilder text = new StringBuilder();
            for (Row row : rows) {
                text.append(row.getString("content"));
            }
            return text.toString();
        });
    }
}
