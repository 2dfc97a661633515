package dev.launch.status.service;

import dev.launch.status.repository.AgentStore;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Agents with the state users see: POLLING, RUNNING, LOST (silent too long) or STOPPED. */
@ApplicationScoped
public class AgentViews {
    @Inject
    AgentStore agents;
    @Inject
    Pool pool;
    @ConfigProperty(name = "launch.agents.lost-after-heartbeats")
    int lostAfterHeartbeats;

    /** An agent as last heard of, and its state now. */
    public record AgentView(AgentStore.AgentRow agent, String state) {
        public boolean isServing() {
            return "POLLING".equals(state) || "RUNNING".equals(state);
        }

        public boolean isFull() {
            return agent.runs().size() >= agent.maxJobs();
        }
    }

    /**
     * Every agent. The runs an agent holds are those of its last heartbeat, corrected by the read model, which
     * hears of claims and ends at once: runs it shows held by the agent are added, runs it shows ended are
     * dropped. So "at max-jobs" is true the moment a claim is recorded, not a heartbeat later.
     */
    public Uni<List<AgentView>> all() {
        OffsetDateTime now = OffsetDateTime.now();
        Uni<Map<String, Set<String>>> held = pool.preparedQuery("SELECT agent_id, run_id FROM run WHERE agent_id "
                        + "IS NOT NULL AND state IN ('CLAIMED', 'STARTING', 'RUNNING', 'STOPPING')").execute()
                .map(rows -> {
                    Map<String, Set<String>> byAgent = new HashMap<>();
                    for (Row row : rows) {
                        byAgent.computeIfAbsent(row.getString("agent_id"), k -> new LinkedHashSet<>())
                                .add(row.getString("run_id"));
                    }
                    return byAgent;
                });
        return Uni.combine().all().unis(agents.all(), held).asTuple().chain(t -> {
            List<String> reported = t.getItem1().stream().flatMap(a -> a.runs().stream()).distinct().toList();
            Uni<Set<String>> ended = reported.isEmpty() ? Uni.createFrom().item(Set.of())
                    : pool.preparedQuery("SELECT run_id FROM run WHERE run_id = ANY($1) AND state IN ('FINISHED', "
                            + "'FAILED', 'STOPPED', 'PREEMPTED', 'QUEUED')")
                    .execute(Tuple.of(reported.toArray(String[]::new)))
                    .map(rows -> {
                        Set<String> ids = new HashSet<>();
                        rows.forEach(r -> ids.add(r.getString("run_id")));
                        return ids;
                    });
            return ended.map(gone -> t.getItem1().stream().map(a -> {
                Set<String> runs = new LinkedHashSet<>(a.runs());
                runs.removeAll(gone);
                runs.addAll(t.getItem2().getOrDefault(a.agentId(), Set.of()));
                AgentStore.AgentRow corrected = new AgentStore.AgentRow(a.agentId(), a.queues(), a.maxJobs(),
                        List.copyOf(runs), a.host(), a.pid(), a.heartbeatIntervalMs(), a.startedAt(),
                        a.lastHeartbeat(), a.stopped());
                return new AgentView(corrected, state(corrected, now));
            }).toList());
        });
    }

    /** Agents alive and serving {@code queue}. */
    public Uni<List<AgentView>> serving(String queue) {
        return all().map(views -> views.stream()
                .filter(v -> v.isServing() && v.agent().queues().contains(queue)).toList());
    }

    private String state(AgentStore.AgentRow a, OffsetDateTime now) {
        if (a.stopped()) {
            return "STOPPED";
        }
        Duration silence = Duration.between(a.lastHeartbeat(), now);
        if (silence.toMillis() > a.heartbeatIntervalMs() * lostAfterHeartbeats) {
            return "LOST";
        }
        return a.runs().isEmpty() ? "POLLING" : "RUNNING";
    }
}
