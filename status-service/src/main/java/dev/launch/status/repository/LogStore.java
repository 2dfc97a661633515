package dev.launch.status.repository;

import dev.launch.common.event.RunLogBatch;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

/** Runs' output, stored per batch; a redelivered batch (same run, attempt, seq) is stored once. */
@ApplicationScoped
public class LogStore {
    @Inject
    Pool pool;

    public Uni<Void> store(RunLogBatch batch) {
        StringBuilder content = new StringBuilder();
        batch.lines().forEach(line -> content.append(line.text()).append('\n'));
        return pool.preparedQuery("INSERT INTO run_log (run_id, attempt, seq, content) VALUES ($1, $2, $3, $4) "
                        + "ON CONFLICT DO NOTHING")
                .execute(Tuple.of(batch.runId(), batch.attempt(), batch.seq(), content.toString()))
                .replaceWithVoid();
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
