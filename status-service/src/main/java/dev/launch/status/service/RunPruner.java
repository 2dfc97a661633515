package dev.launch.status.service;

import dev.launch.common.run.RunState;
import dev.launch.status.repository.QueueIndex;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.core.Vertx;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.Optional;

/**
 * Bounds what PostgreSQL keeps: with {@code launch.status.retention.runs} set, runs that ended longer ago than
 * that are deleted with their history, logs and launch records, in batches, every
 * {@code launch.status.retention.check-interval}; so are remembered event ids older than it. Unset (the
 * default): everything is kept. Counted by {@code launch_status_pruned_runs_total}. Kafka keeps the facts
 * ({@code launch.runs} is kept until deleted by hand), so a read model rebuilt from empty shows pruned runs again.
 */
@ApplicationScoped
public class RunPruner {
    private static final Logger LOG = Logger.getLogger(RunPruner.class);
    private static final int BATCH = 1000;

    @Inject
    Pool pool;
    @Inject
    QueueIndex index;
    @Inject
    Vertx vertx;
    @Inject
    MeterRegistry metrics;
    @ConfigProperty(name = "launch.status.retention.runs")
    Optional<Duration> retention;
    @ConfigProperty(name = "launch.status.retention.check-interval", defaultValue = "PT1H")
    Duration interval;

    private Counter pruned;
    private long timer = -1;
    private volatile boolean pruning;

    void start(@Observes StartupEvent event) {
        pruned = metrics.counter("launch_status_pruned_runs_total");
        if (retention.isEmpty()) {
            return;
        }
        LOG.infof("runs that ended more than %s ago are pruned every %s", retention.get(), interval);
        timer = vertx.setPeriodic(interval.toMillis(), id -> prune().subscribe().with(n -> { },
                e -> LOG.warnf("pruning old runs failed (tried again in %s): %s", interval, e.toString())));
    }

    void stop(@Observes ShutdownEvent event) {
        if (timer >= 0) {
            vertx.cancelTimer(timer);
        }
    }

    /** One pruning pass; completes with the number of runs deleted. */
    public Uni<Long> prune() {
        if (retention.isEmpty() || pruning) {
            return Uni.createFrom().item(0L);
        }
        pruning = true;
        return index.ready().chain(() -> batch(0L)).call(() -> pool.preparedQuery(
                        "DELETE FROM run_event_seen WHERE seen_at < now() - make_interval(secs => $1)")
                        .execute(Tuple.of((double) retention.get().toSeconds())))
                .eventually(() -> pruning = false);
    }

    private Uni<Long> batch(long sofar) {
        double seconds = retention.get().toSeconds();
        // the deletion and the index's decrements go as one, alone among the index's writers
        return index.exclusive(() -> pool.withTransaction(conn -> conn.preparedQuery("DELETE FROM run WHERE run_id IN (SELECT run_id "
                        + "FROM run WHERE state IN ('FINISHED', 'FAILED', 'STOPPED') AND updated_at < now() - "
                        + "make_interval(secs => $1) LIMIT " + BATCH + " FOR UPDATE SKIP LOCKED) "
                        + "RETURNING run_id, queue, state").execute(Tuple.of(seconds))
                .call(rows -> {
                    if (rows.size() == 0) {
                        return Uni.createFrom().voidItem();
                    }
                    String[] ids = new String[rows.size()];
                    int i = 0;
                    for (Row row : rows) {
                        ids[i++] = row.getString("run_id");
                    }
                    Tuple args = Tuple.of(ids);
                    return conn.preparedQuery("DELETE FROM run_history WHERE run_id = ANY($1)").execute(args)
                            .chain(() -> conn.preparedQuery("DELETE FROM run_log WHERE run_id = ANY($1)")
                                    .execute(args))
                            .chain(() -> conn.preparedQuery("DELETE FROM run_log_mark WHERE run_id = ANY($1)")
                                    .execute(args))
                            .chain(() -> conn.preparedQuery("DELETE FROM run_launch WHERE run_id = ANY($1)")
                                    .execute(args))
                            .replaceWithVoid();
                })).invoke(rows -> {
                    for (Row row : rows) {
                        index.pruned(row.getString("queue"), RunState.valueOf(row.getString("state")));
                    }
                }))
                .chain(rows -> {
                    pruned.increment(rows.size());
                    long total = sofar + rows.size();
                    if (rows.size() > 0) {
                        LOG.debugf("pruned %d run(s)", rows.size());
                    }
                    return rows.size() < BATCH ? Uni.createFrom().item(total) : batch(total);
                });
    }
}
