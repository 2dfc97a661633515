package dev.launch.status.service;

import dev.launch.common.run.FailureStage;
import dev.launch.messaging.RunLog;
import dev.launch.status.messaging.RunMoves;
import dev.launch.status.messaging.StopPublisher;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.core.Vertx;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A run its target preempted (a Kubernetes pod evicted or preempted, a spot instance reclaimed) goes back to its
 * queue as its next attempt, at the tail of its level, while the queue's {@code maxAttempts} allows; otherwise it
 * ends FAILED in stage {@code target}, saying it was preempted. Found by a periodic look at the read model, so a
 * preemption read just before a restart of this service is acted on after it.
 */
@ApplicationScoped
public class PreemptedRuns {
    private static final Logger LOG = Logger.getLogger(PreemptedRuns.class);

    @Inject
    Pool pool;
    @Inject
    RunMoves moves;
    @Inject
    StopPublisher stops;
    @Inject
    Vertx vertx;
    @ConfigProperty(name = "launch.agents.lost-check-interval", defaultValue = "PT2S")
    Duration interval;

    /** runs acted on here, not again while their facts travel */
    private final Map<String, Long> handled = new ConcurrentHashMap<>();
    private long timer = -1;
    private volatile boolean checking;

    void start(@Observes StartupEvent event) {
        timer = vertx.setPeriodic(interval.toMillis(), id -> check());
    }

    void stop(@Observes ShutdownEvent event) {
        if (timer >= 0) {
            vertx.cancelTimer(timer);
        }
    }

    private void check() {
        if (checking) {
            return;
        }
        checking = true;
        long now = System.currentTimeMillis();
        handled.values().removeIf(at -> now - at > 60_000);
        pool.query("SELECT r.run_id, r.queue, r.agent_id, r.attempt, r.state, r.item_id, r.priority, r.request, "
                        + "(SELECT h.reason FROM run_history h WHERE h.run_id = r.run_id ORDER BY h.seq DESC LIMIT 1) "
                        + "AS reason FROM run r WHERE r.state = 'PREEMPTED'").execute()
                .chain(rows -> {
                    List<Row> todo = new ArrayList<>();
                    for (Row row : rows) {
                        if (handled.putIfAbsent(row.getString("run_id") + "/" + row.getInteger("attempt"), now) == null) {
                            todo.add(row);
                        }
                    }
                    return Multi.createFrom().iterable(todo).onItem().transformToUniAndConcatenate(row -> resolve(row)
                            .onFailure().invoke(e -> {
                                RunLog.warnf(LOG, row.getString("run_id"), row.getString("queue"), row.getString("agent_id"),
                                        "requeueing preempted run %s failed (%s); trying again",
                                        row.getString("run_id"), e.toString());
                                handled.remove(row.getString("run_id") + "/" + row.getInteger("attempt"));
                            }).onFailure().recoverWithNull()).collect().last().replaceWithVoid();
                })
                .subscribe().with(done -> checking = false, e -> {
                    checking = false;
                    LOG.warnf("checking for preempted runs failed: %s", e.toString());
                });
    }

    private Uni<Void> resolve(Row row) {
        String runId = row.getString("run_id");
        String reason = row.getString("reason") == null ? "preempted" : row.getString("reason");
        int attempt = row.getInteger("attempt");
        if (row.getString("request") != null && attempt < LostAgentRuns.request(row).maxAttempts()) {
            return moves.retry(LostAgentRuns.request(row), row.getString("agent_id"), "preempted: " + reason)
                    .invoke(outcome -> RunLog.infof(LOG, runId, row.getString("queue"), row.getString("agent_id"),
                            "run %s: preempted (%s); %s",
                            runId, reason, outcome.moved()
                            ? "queued again as attempt " + (attempt + 1) : "its retry did not hold"))
                    .replaceWithVoid();
        }
        RunLog.infof(LOG, runId, row.getString("queue"), row.getString("agent_id"),
                "run %s: preempted (%s), and no attempts are left",
                runId, reason);
        return stops.fail(runId, row.getString("queue"), row.getString("agent_id"), attempt,
                FailureStage.TARGET.wire(), "preempted: " + reason + "; no attempts left (the queue's maxAttempts is "
                        + attempt + ")");
    }
}
