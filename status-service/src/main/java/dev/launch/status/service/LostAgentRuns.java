package dev.launch.status.service;

import dev.launch.common.event.Events;
import dev.launch.common.event.RunRequest;
import dev.launch.common.run.FailureStage;
import dev.launch.status.messaging.RunMoves;
import dev.launch.status.messaging.StopPublisher;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Multi;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Resolves the runs an agent held when it is LOST (silent past its heartbeat deadline), or stopped over a
 * minute ago without reporting them, so none stays CLAIMED, STARTING or RUNNING forever:
 * <ul>
 *   <li>a run its agent took but never started (no {@code RunLaunching} record) goes back to its queue, at the
 *       tail of its level, for another agent; a launch record that came first wins over the hand-back;</li>
 *   <li>any other is stopped ({@code StopRun}: an agent that comes back stops its process) and FAILED in stage
 *       {@code agent} with the reason. A local process does not outlive its agent (its watchdog ends it), so
 *       nothing keeps running.</li>
 * </ul>
 */
@ApplicationScoped
public class LostAgentRuns {
    private static final Logger LOG = Logger.getLogger(LostAgentRuns.class);

    @Inject
    AgentViews agents;
    @Inject
    Pool pool;
    @Inject
    StopPublisher stops;
    @Inject
    Vertx vertx;
    @Inject
    RunMoves moves;
    @ConfigProperty(name = "launch.agents.lost-check-interval", defaultValue = "PT2S")
    Duration interval;

    /** runs already ended here, not asked again while their facts travel */
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

    /**
     * A run its agent took but never started (no launch record read, not RUNNING) can go back to its queue;
     * whether it does is decided by the order of its command records (a late launch record wins).
     */
    private boolean mayHandBack(Row row) {
        String state = row.getString("state");
        return ("CLAIMED".equals(state) || "STARTING".equals(state)) && row.getString("request") != null
                && !moves.launching(row.getString("run_id"), row.getString("item_id"));
    }

    private static RunRequest request(Row row) {
        try {
            RunRequest original = Events.MAPPER.readValue(row.getString("request"), RunRequest.class);
            return original.movedTo(row.getString("priority"), row.getString("item_id"));
        } catch (java.io.IOException e) {
            throw new IllegalStateException("unreadable stored request of run " + row.getString("run_id"), e);
        }
    }

    private void check() {
        if (checking) {
            return;
        }
        checking = true;
        long now = System.currentTimeMillis();
        handled.values().removeIf(at -> now - at > 60_000);
        agents.all().chain(views -> {
            // LOST agents, and agents that said goodbye a while ago but still hold runs (a final report lost
            // on the way out)
            java.time.OffsetDateTime stoppedLongAgo = java.time.OffsetDateTime.now().minusSeconds(60);
            List<AgentViews.AgentView> lost = views.stream().filter(v -> "LOST".equals(v.state())
                    || ("STOPPED".equals(v.state()) && v.agent().lastHeartbeat().isBefore(stoppedLongAgo))).toList();
            if (lost.isEmpty()) {
                return Uni.createFrom().voidItem();
            }
            List<String> ids = lost.stream().map(v -> v.agent().agentId()).toList();
            return pool.preparedQuery("SELECT run_id, queue, agent_id, attempt, state, item_id, priority, request FROM run WHERE agent_id = ANY($1) AND state IN "
                            + "('CLAIMED', 'STARTING', 'RUNNING', 'STOPPING')")
                    .execute(Tuple.of(ids.toArray(String[]::new)))
                    .chain(rows -> {
                        List<Row> held = new ArrayList<>();
                        rows.forEach(row -> {
                            if (handled.putIfAbsent(row.getString("run_id"), now) == null) {
                                held.add(row);
                            }
                        });
                        return Multi.createFrom().iterable(held).onItem().transformToUniAndConcatenate(row -> {
                            AgentViews.AgentView agent = lost.stream()
                                    .filter(v -> v.agent().agentId().equals(row.getString("agent_id")))
                                    .findFirst().orElseThrow();
                            String reason = "LOST".equals(agent.state())
                                    ? "agent " + agent.agent().agentId() + " was lost: no heartbeat since "
                                    + agent.agent().lastHeartbeat().toInstant() + "; its processes are ended "
                                    + "with it"
                                    : "agent " + agent.agent().agentId() + " stopped at "
                                    + agent.agent().lastHeartbeat().toInstant() + " without reporting how the "
                                    + "run ended";
                            Uni<Boolean> handedBack = mayHandBack(row)
                                    ? moves.release(request(row), agent.agent().agentId()).map(RunMoves.Outcome::moved)
                                    : Uni.createFrom().item(false);
                            return handedBack.chain(back -> {
                                if (back) {
                                    LOG.infof("run %s: handed back to queue %s (agent %s lost before starting it)",
                                            row.getString("run_id"), row.getString("queue"), row.getString("agent_id"));
                                    return Uni.createFrom().voidItem();
                                }
                                LOG.infof("run %s: %s", row.getString("run_id"), reason);
                                return stops.failLost(row.getString("run_id"), row.getString("queue"),
                                        agent.agent().agentId(), row.getInteger("attempt"),
                                        FailureStage.AGENT.wire(), reason);
                            }).onFailure().invoke(e -> handled.remove(row.getString("run_id")))
                                    .onFailure().recoverWithNull();
                        }).collect().last().replaceWithVoid();
                    });
        }).subscribe().with(done -> checking = false, e -> {
            checking = false;
            LOG.warnf("checking for lost agents failed: %s", e.toString());
        });
    }
}
