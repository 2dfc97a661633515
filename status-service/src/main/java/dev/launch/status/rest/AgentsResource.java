package dev.launch.status.rest;

import dev.launch.status.repository.AgentStore;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Every agent that has spoken, with its state: POLLING, RUNNING, LOST (silent too long) or STOPPED. */
@Path("/api/v1/agents")
@Produces(MediaType.APPLICATION_JSON)
public class AgentsResource {
    @Inject
    AgentStore agents;
    @ConfigProperty(name = "launch.agents.lost-after-heartbeats")
    int lostAfterHeartbeats;

    @GET
    public Uni<Map<String, Object>> list() {
        OffsetDateTime now = OffsetDateTime.now();
        return agents.all().map(rows -> {
            List<Map<String, Object>> items = rows.stream().map(a -> {
                Map<String, Object> view = new LinkedHashMap<>();
                view.put("agentId", a.agentId());
                view.put("queues", a.queues());
                view.put("maxJobs", a.maxJobs());
                view.put("running", a.runs().size());
                view.put("runs", a.runs());
                view.put("state", state(a, now));
                view.put("lastHeartbeat", a.lastHeartbeat().toInstant());
                view.put("startedAt", a.startedAt().toInstant());
                view.put("host", a.host());
                view.put("pid", a.pid());
                return view;
            }).toList();
            return Map.of("items", items);
        });
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
