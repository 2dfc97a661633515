package dev.launch.status.service;

import dev.launch.status.repository.AgentStore;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.List;

/** Agents with the state users see: POLLING, RUNNING, LOST (silent too long) or STOPPED. */
@ApplicationScoped
public class AgentViews {
    @Inject
    AgentStore agents;
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

    public Uni<List<AgentView>> all() {
        OffsetDateTime now = OffsetDateTime.now();
        return agents.all().map(rows -> rows.stream().map(a -> new AgentView(a, state(a, now))).toList());
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
