package dev.launch.status.service;

import dev.launch.common.event.Events;
import dev.launch.common.event.RunRequest;
import dev.launch.common.run.FailureStage;
import dev.launch.status.messaging.AgentFeed;
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
 *   <li>a run it started goes back to its queue as its next attempt (at the tail of its level) when the queue's
 *       {@code maxAttempts} allows and no stop was asked for; an agent still holding the old attempt abandons
 *       it when it reads the retry;</li>
 *   <li>any other is stopped ({@code StopRun}: an agent that comes back stops its process) and FAILED in stage
 *       {@code agent} with the reason. A local process does not outlive its agent (its watchdog ends it), so
 *       nothing keeps running.</li>
 * </ul>
 * Silence is judged only up to the time before which every agent record has been read ({@link AgentFeed}):
 * after a database outage the heartbeats waiting in the backlog count.
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
    @Inject
    AgentFeed feed;
    @ConfigProperty(name = "launch.agents.lost-check-interval", defaultValue = "PT2S")
    Duration interval;
    @ConfigProperty(name = "launch.agents.lost-after-heartbeats")
    int lostAfterHeartbeats;

    /** items (run/item) already resolved here, not resolved again while their facts travel */
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

    /**
     * A run its agent started (or may have: a launch record read) goes back to its queue as its next attempt
     * when the queue's {@code maxAttempts} allows and nobody asked to stop it.
     */
    private static boolean mayRetry(Row row) {
        return !"STOPPING".equals(row.getString("state")) && row.getString("request") != null
                && row.getInteger("attempt") < request(row).maxAttempts();
    }

    /** A run as the item it waits or runs as: a hand-back or retry makes it another one. */
    private static String key(Row row) {
        return row.getString("run_id") + "/" + row.getString("item_id");
    }

    private static RunRequest request(Row row) {
        try {
            RunRequest original = Events.MAPPER.readValue(row.getString("request"), RunRequest.class);
            return original.movedTo(row.getString("priority"), row.getString("item_id"))
                    .withAttempt(row.getInteger("attempt"));
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
        // judge silence only up to the time before which every agent record has been read (a backlog after an
        // outage must not make live agents look lost)
        feed.horizon().chain(horizon -> horizon.isEmpty() ? Uni.createFrom().voidItem() : agents.all().chain(views -> {
            // LOST agents, and agents that said goodbye a while ago but still hold runs (a final report lost
            // on the way out)
            // silence counts from the agent's last heartbeat, or from the end of a Kafka outage (nobody could be
            // heard before it), up to the horizon
            java.time.Instant readUpTo = horizon.get();
            java.time.Instant audible = feed.reachableSince();
            List<AgentViews.AgentView> lost = views.stream().filter(v -> {
                java.time.Instant heard = v.agent().lastHeartbeat().toInstant();
                java.time.Instant from = heard.isAfter(audible) ? heard : audible;
                // a stopped agent said goodbye: a minute after it, all it sent before has been read
                return ("LOST".equals(v.state())
                        && from.plusMillis(v.agent().heartbeatIntervalMs() * lostAfterHeartbeats).isBefore(readUpTo))
                        || ("STOPPED".equals(v.state()) && heard.plusSeconds(60).isBefore(readUpTo));
            }).toList();
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
                            if (handled.putIfAbsent(key(row), now) == null) {
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
                            String owner = moves.takenBy(row.getString("run_id"), row.getString("item_id"));
                            if (owner != null && !owner.equals(agent.agent().agentId())) {
                                // the lost agent claimed it but never recorded the take; another agent took the
                                // item and owns the run now
                                LOG.infof("run %s: taken by agent %s, not by the lost agent %s; left to it",
                                        row.getString("run_id"), owner, agent.agent().agentId());
                                handled.remove(key(row));
                                return Uni.createFrom().voidItem();
                            }
                            boolean handBack = mayHandBack(row);
                            Uni<Boolean> handedBack = handBack
                                    ? moves.release(request(row), agent.agent().agentId()).map(RunMoves.Outcome::moved)
                                    : mayRetry(row)
                                    ? moves.retry(request(row), agent.agent().agentId(), reason).map(RunMoves.Outcome::moved)
                                    : Uni.createFrom().item(false);
                            return handedBack.chain(back -> {
                                if (back) {
                                    LOG.infof("run %s: %s queue %s (agent %s lost %s it)", row.getString("run_id"),
                                            handBack ? "handed back to" : "retried on", row.getString("queue"),
                                            row.getString("agent_id"), handBack ? "before starting" : "after starting");
                                    return Uni.createFrom().voidItem();
                                }
                                LOG.infof("run %s: %s", row.getString("run_id"), reason);
                                return stops.failLost(row.getString("run_id"), row.getString("queue"),
                                        agent.agent().agentId(), row.getInteger("attempt"),
                                        FailureStage.AGENT.wire(), reason);
                            }).onFailure().invoke(e -> handled.remove(key(row)))
                                    .onFailure().recoverWithNull();
                        }).collect().last().replaceWithVoid();
                    });
        })).subscribe().with(done -> checking = false, e -> {
            checking = false;
            LOG.warnf("checking for lost agents failed: %s", e.toString());
        });
    }
}
