package dev.launch.status.repository;

import dev.launch.common.event.RunTaken;
import dev.launch.messaging.RunLog;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.vertx.mutiny.core.Vertx;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The durable copy of every launch record that held on {@code launch.run-commands} (table {@code run_launch}):
 * which item of a run an agent started, under which handle, and whether the work outlives the agent. The
 * command topic forgets records past its retention; the runs they launched may run for longer (a training job
 * of two weeks), and a lost agent's run must still be adopted then, not retried beside its work (ADR 0002).
 * A record the database refuses is kept and written again every few seconds; each is written whenever it is
 * read, so a restart fills in what an outage missed.
 */
@ApplicationScoped
public class LaunchRecords {
    private static final Logger LOG = Logger.getLogger(LaunchRecords.class);

    @Inject
    Pool pool;
    @Inject
    Vertx vertx;

    private final Queue<RunTaken> unwritten = new ConcurrentLinkedQueue<>();
    private long timer = -1;

    void start(@Observes StartupEvent event) {
        timer = vertx.setPeriodic(5_000, id -> {
            RunTaken next;
            int n = unwritten.size();
            while (n-- > 0 && (next = unwritten.poll()) != null) {
                record(next);
            }
        });
    }

    void stop(@Observes ShutdownEvent event) {
        if (timer >= 0) {
            vertx.cancelTimer(timer);
        }
    }

    /** Keeps {@code launch} (the first {@code RunLaunching} of its item that held); called for each reading. */
    public void record(RunTaken launch) {
        pool.preparedQuery("INSERT INTO run_launch (run_id, item_id, agent_id, handle, adoptable) VALUES ($1, $2, $3, "
                        + "$4, $5) ON CONFLICT DO NOTHING")
                .execute(Tuple.of(launch.runId(), launch.itemId(), launch.agentId(), launch.handle(),
                        launch.outlivesAgent()))
                .subscribe().with(done -> { }, e -> {
                    RunLog.warnf(LOG, launch.runId(), launch.queue(), launch.agentId(),
                            "cannot keep the launch record of run %s yet (%s); trying again", launch.runId(),
                            e.toString());
                    unwritten.add(launch);
                });
    }
}
