package dev.launch.status.repository;

import dev.launch.common.event.RunLogBatch;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs' output, stored per batch; a redelivered batch (same run, attempt, seq) is stored once. Lines that carry
 * their target position are stored only past the last position stored for their stream and source in the
 * attempt ({@code run_log_mark}): an agent that adopts a run reads its output again from where the store ended
 * (or earlier), and each line is kept once; the pods of a multi-pod workload count positions apart.
 */
@ApplicationScoped
public class LogStore {
    @Inject
    Pool pool;

    /**
     * A line as PostgreSQL's text can hold it: a program's output may carry NUL characters (binary output, a C
     * string written whole), which text refuses; each is stored as U+FFFD, as a terminal shows an unprintable.
     */
    static String storable(String text) {
        return text.indexOf('\0') < 0 ? text : text.replace('\0', '\uFFFD');
    }

    public Uni<Void> store(RunLogBatch batch) {
        boolean positioned = !batch.lines().isEmpty() && batch.lines().stream().allMatch(l -> l.position() != null);
        if (!positioned) {
            StringBuilder content = new StringBuilder();
            batch.lines().forEach(line -> content.append(storable(line.text())).append('\n'));
            return insert(batch, batch.seq(), content.toString(), null);
        }
        return marks(batch.runId(), batch.attempt()).chain(marks -> {
            StringBuilder content = new StringBuilder();
            Long first = null;
            long lastKept = -1;
            Map<String, Long> kept = new HashMap<>();
            for (RunLogBatch.Line line : batch.lines()) {
                Long stored = marks.marks().getOrDefault(line.mark(), marks.legacy());
                if (stored != null && line.position() <= stored) {
                    continue;
                }
                if (first == null) {
                    first = line.position();
                }
                lastKept = Math.max(lastKept, line.position());
                kept.merge(line.mark(), line.position(), Math::max);
                content.append(storable(line.text())).append('\n');
            }
            if (first == null) {
                return Uni.createFrom().voidItem();
            }
            List<Tuple> rows = new ArrayList<>();
            kept.forEach((mark, position) -> rows.add(Tuple.of(batch.runId(), batch.attempt(), mark, position)));
            return insert(batch, first, content.toString(), lastKept)
                    .chain(() -> pool.preparedQuery("INSERT INTO run_log_mark (run_id, attempt, mark, last_position) "
                                    + "VALUES ($1, $2, $3, $4) ON CONFLICT (run_id, attempt, mark) DO UPDATE SET "
                                    + "last_position = GREATEST(run_log_mark.last_position, EXCLUDED.last_position)")
                            .executeBatch(rows).replaceWithVoid());
        });
    }

    /** An attempt's stored positions per stream and source, and the single one of batches stored before V7. */
    private record Marks(Map<String, Long> marks, Long legacy) {
    }

    private Uni<Marks> marks(String runId, int attempt) {
        return pool.preparedQuery("SELECT mark, last_position FROM run_log_mark WHERE run_id = $1 AND attempt = $2")
                .execute(Tuple.of(runId, attempt)).chain(rows -> {
                    Map<String, Long> marks = new HashMap<>();
                    rows.forEach(row -> marks.put(row.getString("mark"), row.getLong("last_position")));
                    if (!marks.isEmpty()) {
                        return Uni.createFrom().item(new Marks(marks, null));
                    }
                    return legacyLastPosition(runId, attempt).map(last -> new Marks(marks, last));
                });
    }

    private Uni<Void> insert(RunLogBatch batch, long seq, String content, Long lastPosition) {
        return pool.preparedQuery("INSERT INTO run_log (run_id, attempt, seq, content, last_position) VALUES ($1, $2, "
                        + "$3, $4, $5) ON CONFLICT DO NOTHING")
                .execute(Tuple.of(batch.runId(), batch.attempt(), seq, content, lastPosition))
                .replaceWithVoid();
    }

    /**
     * Where an adopter reads the attempt's output on from: the lowest of its streams' and sources' last stored
     * positions (lines it reads again are stored once per source), or null when none carries one.
     */
    public Uni<Long> lastPosition(String runId, int attempt) {
        return pool.preparedQuery("SELECT min(last_position) AS last FROM run_log_mark WHERE run_id = $1 AND attempt = $2")
                .execute(Tuple.of(runId, attempt))
                .chain(rows -> {
                    Long last = rows.iterator().hasNext() ? rows.iterator().next().getLong("last") : null;
                    return last != null ? Uni.createFrom().item(last) : legacyLastPosition(runId, attempt);
                });
    }

    private Uni<Long> legacyLastPosition(String runId, int attempt) {
        return pool.preparedQuery("SELECT max(last_position) AS last FROM run_log WHERE run_id = $1 AND attempt = $2")
                .execute(Tuple.of(runId, attempt))
                .map(rows -> rows.iterator().hasNext() ? rows.iterator().next().getLong("last") : null);
    }

    /** Output read on from a cursor: the text, and the cursor of its last batch (the given one when none). */
    public record Page(String text, Cursor cursor, boolean more) {
    }

    /**
     * Where a follower has read to: the attempt and batch number of the last batch it has. Written
     * {@code attempt.seq}, as {@code GET /runs/{id}/logs?after=} takes it; {@code 0} before the first.
     */
    public record Cursor(int attempt, long seq) {
        public static final Cursor START = new Cursor(0, -1);

        public static Cursor parse(String text) {
            if (text.equals("0")) {
                return START;
            }
            int dot = text.indexOf('.');
            try {
                return new Cursor(Integer.parseInt(text.substring(0, dot)), Long.parseLong(text.substring(dot + 1)));
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("'" + text + "' is not a log cursor: give 0 for the start, then the "
                        + "Launch-Log-Cursor header of the previous answer (attempt.batch, e.g. 1.42)");
            }
        }

        @Override
        public String toString() {
            return attempt + "." + seq;
        }
    }

    /** The run's output after {@code after}, batches in order, at most {@code limit} batches. */
    public Uni<Page> readAfter(String runId, Cursor after, int limit) {
        return pool.preparedQuery("SELECT attempt, seq, content FROM run_log WHERE run_id = $1 AND (attempt, seq) > "
                        + "($2, $3) ORDER BY attempt, seq LIMIT $4")
                .execute(Tuple.of(runId, after.attempt(), after.seq(), limit + 1)).map(rows -> {
                    StringBuilder text = new StringBuilder();
                    Cursor last = after;
                    int n = 0;
                    for (Row row : rows) {
                        if (++n > limit) {
                            break;
                        }
                        text.append(row.getString("content"));
                        last = new Cursor(row.getInteger("attempt"), row.getLong("seq"));
                    }
                    return new Page(text.toString(), last, n > limit);
                });
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
