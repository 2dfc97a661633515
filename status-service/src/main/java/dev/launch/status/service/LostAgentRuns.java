package dev.launch.status.service;

import dev.launch.common.event.Events;
import dev.launch.common.event.RunRequest;
import dev.launch.common.run.FailureStage;
import dev.launch.messaging.RunLog;
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
 *   <li>a run whose work outlives its agent (its launch record says adoptable: a container) is offered to the
 *       agents of its queue ({@code AdoptRun}); the first to answer owns it (ADR 0002). An agent that said goodbye
 *       and an earlier incarnation of a restarted agent are resolved this way at once;</li>
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
    @Inject
    dev.launch.status.repository.LogStore logs;
    @ConfigProperty(name = "launch.agents.lost-check-interval", defaultValue = "PT2S")
    Duration interval;
    @ConfigProperty(name = "launch.agents.lost-after-heartbeats")
    int lostAfterHeartbeats;

    /**
     * How long resolving one run may take (a write and a read up to it), and a whole check: a check that never
     * ended would keep every later one from starting, and no lost agent's run would be resolved again.
     */
    private static final Duration RESOLVE_BOUND = Duration.ofSeconds(45);
    private static final Duration CHECK_BOUND = Duration.ofMinutes(5);

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
                && !moves.launching(row.getString("run_id"), row.getString("item_id"))
                && row.getValue("launch_adoptable") == null;
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

    static RunRequest request(Row row) {
        try {
            RunRequest original = Events.MAPPER.readValue(row.getString("request"), RunRequest.class);
            return original.movedTo(row.getString("priority"), row.getString("item_id"))
                    .withAttempt(row.getInteger("attempt"));
        } catch (java.io.IOException e) {
            throw new IllegalStateException("unreadable stored request of run " + row.getString("run_id"), e);
        }
    }

    /** A held run to resolve, and why its agent no longer watches it. */
    private record Orphan(Row row, String agentId, String reason, boolean stoppedAgent) {
    }

    /** A held run's columns, with its durable launch record (null when none held) for when the topic forgot it. */
    private static final String HELD_COLUMNS = "r.run_id, r.queue, r.agent_id, r.attempt, r.state, r.item_id, "
            + "r.priority, r.request, r.target_type, r.target_handle, l.handle AS launch_handle, "
            + "l.adoptable AS launch_adoptable";
    private static final String HELD_FROM = " FROM run r LEFT JOIN run_launch l ON l.run_id = r.run_id "
            + "AND l.item_id = r.item_id";

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
            // LOST agents, and agents that said goodbye (their adoptable work at once, the rest a minute later:
            // a final report may be on its way); silence counts from the agent's last heartbeat, or from the end
            // of a Kafka outage (nobody could be heard before it), up to the horizon
            java.time.Instant readUpTo = horizon.get();
            java.time.Instant audible = feed.reachableSince();
            List<AgentViews.AgentView> lost = views.stream().filter(v -> {
                java.time.Instant heard = v.agent().lastHeartbeat().toInstant();
                java.time.Instant from = heard.isAfter(audible) ? heard : audible;
                return ("LOST".equals(v.state())
                        && from.plusMillis(v.agent().heartbeatIntervalMs() * lostAfterHeartbeats).isBefore(readUpTo))
                        || "STOPPED".equals(v.state());
            }).toList();
            List<String> ids = lost.stream().map(v -> v.agent().agentId()).toList();
            Uni<List<Orphan>> ofLost = ids.isEmpty() ? Uni.createFrom().item(List.of())
                    // CLAIMED runs of any agent too: the read model names the agent whose claim it read first, the
                    // ledger the one that took the item first, and they differ when the first claimer died before
                    // its take (or its take came second); the taker decides
                    : pool.preparedQuery("SELECT " + HELD_COLUMNS + HELD_FROM + " WHERE (r.agent_id = ANY($1) AND "
                            + "r.state IN ('CLAIMED', 'STARTING', 'RUNNING', 'STOPPING')) OR r.state = 'CLAIMED'")
                    .execute(Tuple.of(ids.toArray(String[]::new))).map(rows -> {
                        List<Orphan> out = new ArrayList<>();
                        for (Row row : rows) {
                            String holder = holder(row);
                            AgentViews.AgentView agent = lost.stream()
                                    .filter(v -> v.agent().agentId().equals(holder)).findFirst().orElse(null);
                            if (agent == null) {
                                continue; // held by a live agent
                            }
                            boolean stopped = "STOPPED".equals(agent.state());
                            java.time.Instant heard = agent.agent().lastHeartbeat().toInstant();
                            if (stopped && !adoptable(row) && !heard.plusSeconds(60).isBefore(readUpTo)) {
                                continue; // a stopped agent's last reports may still be on their way
                            }
                            out.add(new Orphan(row, agent.agent().agentId(), stopped
                                    ? "agent " + agent.agent().agentId() + " stopped at " + heard
                                    + (adoptable(row) ? " and left the run's work running" : " without reporting "
                                    + "how the run ended")
                                    : "agent " + agent.agent().agentId() + " was lost: no heartbeat since " + heard
                                    + (adoptable(row) ? "" : "; its processes are ended with it"), stopped));
                        }
                        return out;
                    });
            // an agent that started again under the same id: the runs its earlier incarnation last reported about
            Uni<List<Orphan>> ofRestarted = pool.query("SELECT " + HELD_COLUMNS + ", a.started_at" + HELD_FROM + " JOIN agent a "
                            + "ON a.agent_id = r.agent_id WHERE r.state IN ('CLAIMED', 'STARTING', 'RUNNING', 'STOPPING') "
                            + "AND r.agent_at IS NOT NULL AND r.agent_at < a.started_at AND NOT a.stopped").execute()
                    .map(rows -> {
                        List<Orphan> out = new ArrayList<>();
                        for (Row row : rows) {
                            if (ids.contains(row.getString("agent_id"))) {
                                continue;
                            }
                            out.add(new Orphan(row, row.getString("agent_id"), "agent " + row.getString("agent_id")
                                    + " started again at " + row.getOffsetDateTime("started_at").toInstant()
                                    + "; the run belonged to its earlier incarnation", false));
                        }
                        return out;
                    });
            return ofLost.chain(a -> ofRestarted.map(b -> {
                List<Orphan> all = new ArrayList<>(a);
                all.addAll(b);
                return all;
            })).chain(orphans -> {
                List<Orphan> todo = new ArrayList<>();
                for (Orphan o : orphans) {
                    if (handled.putIfAbsent(key(o.row()), now) == null) {
                        todo.add(o);
                    }
                }
                return Multi.createFrom().iterable(todo).onItem().transformToUniAndConcatenate(o -> resolve(o)
                        .ifNoItem().after(RESOLVE_BOUND).failWith(() -> new java.util.concurrent.TimeoutException(
                                "no answer within " + RESOLVE_BOUND))
                        .onFailure().invoke(e -> {
                            RunLog.warnf(LOG, o.row().getString("run_id"), o.row().getString("queue"), o.agentId(),
                                    "resolving run %s of agent %s failed (%s); trying again",
                                    o.row().getString("run_id"), o.agentId(), e.toString());
                            handled.remove(key(o.row()));
                        })
                        .onFailure().recoverWithNull()).collect().last().replaceWithVoid();
            });
        })).ifNoItem().after(CHECK_BOUND).failWith(() -> new java.util.concurrent.TimeoutException("no answer within "
                + CHECK_BOUND)).subscribe().with(done -> checking = false, e -> {
            checking = false;
            LOG.warnf("checking for lost agents failed: %s", e.toString());
        });
    }

    /** Whether the run's launch record says its work outlives its agent (a container, a Kubernetes Job ...). */
    private boolean adoptable(Row row) {
        return launchHandle(row) != null;
    }

    /**
     * The handle of the run's adoptable work, or null: from the launch record read on the command topic, else
     * from its durable copy (the topic forgets records past its retention; a run may run for longer).
     */
    private String launchHandle(Row row) {
        dev.launch.common.event.RunTaken launch = moves.launchRecord(row.getString("run_id"), row.getString("item_id"));
        if (launch != null) {
            return launch.outlivesAgent() ? launch.handle() : null;
        }
        return Boolean.TRUE.equals(row.getBoolean("launch_adoptable")) ? row.getString("launch_handle") : null;
    }

    /**
     * The agent that holds a run: the owner of its item in the command ledger (the agent that took it first, or
     * its last adopter) when one has been read, else the agent the read model names (a claim not yet taken).
     */
    private String holder(Row row) {
        String owner = moves.owner(row.getString("run_id"), row.getString("item_id"));
        return owner != null ? owner : row.getString("agent_id");
    }

    private Uni<Void> resolve(Orphan o) {
        Row row = o.row();
        String runId = row.getString("run_id");
        String owner = moves.owner(runId, row.getString("item_id"));
        if (owner != null && !owner.equals(o.agentId())) {
            // another agent took or adopted it since this one was found: that agent owns the run now (and, if it
            // is lost too, is resolved as its holder by the next check)
            RunLog.infof(LOG, runId, row.getString("queue"), o.agentId(),
                    "run %s: owned by agent %s, not by %s; left to it",
                    runId, owner, o.agentId());
            handled.remove(key(row));
            return Uni.createFrom().voidItem();
        }
        if (adoptable(row) && row.getString("request") != null) {
            String handle = launchHandle(row);
            return logs.lastPosition(runId, row.getInteger("attempt")).chain(position -> {
                RunLog.infof(LOG, runId, row.getString("queue"), o.agentId(),
                        "run %s: %s; asking the agents of queue %s to adopt %s",
                        runId, o.reason(),
                        row.getString("queue"), handle);
                return stops.adopt(new dev.launch.common.event.AdoptRun(runId, row.getString("queue"),
                        row.getString("item_id"), row.getInteger("attempt"), row.getString("target_type") != null
                        ? row.getString("target_type") : request(row).target().path("type").asText(), handle,
                        o.agentId(), o.reason(), position, request(row)));
            });
        }
        boolean handBack = mayHandBack(row);
        Uni<Boolean> handedBack = handBack
                ? moves.release(request(row), o.agentId()).map(RunMoves.Outcome::moved)
                : mayRetry(row)
                ? moves.retry(request(row), o.agentId(), o.reason()).map(RunMoves.Outcome::moved)
                : Uni.createFrom().item(false);
        return handedBack.chain(back -> {
            if (back) {
                RunLog.infof(LOG, runId, row.getString("queue"), o.agentId(),
                        "run %s: %s queue %s (agent %s lost %s it)",
                        runId, handBack ? "handed back to"
                        : "retried on", row.getString("queue"), o.agentId(), handBack ? "before starting" : "after starting");
                return Uni.createFrom().voidItem();
            }
            RunLog.infof(LOG, runId, row.getString("queue"), o.agentId(),
                    "run %s: %s", runId, o.reason());
            return stops.failLost(runId, row.getString("queue"), o.agentId(), row.getInteger("attempt"),
                    FailureStage.AGENT.wire(), o.reason());
        });
    }
}
