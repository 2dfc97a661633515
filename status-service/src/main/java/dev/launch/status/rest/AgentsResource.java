package dev.launch.status.rest;

import dev.launch.common.naming.Names;
import dev.launch.status.service.AgentViews;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Every agent that has spoken, with its state: POLLING, RUNNING, LOST (silent too long) or STOPPED. */
@Path("/api/v1/agents")
@Produces(MediaType.APPLICATION_JSON)
public class AgentsResource {
    @Inject
    AgentViews agents;

    /** All agents, or those that serve {@code queue}. */
    @GET
    public Uni<Map<String, Object>> list(@QueryParam("queue") String queue) {
        if (queue != null) {
            Names.require("queue", queue);
        }
        return agents.all().map(views -> {
            List<Map<String, Object>> items = views.stream()
                    .filter(v -> queue == null || v.agent().queues().contains(queue))
                    .map(AgentsResource::view).toList();
            return Map.of("items", items);
        });
    }

    static Map<String, Object> view(AgentViews.AgentView v) {
        var a = v.agent();
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("agentId", a.agentId());
        view.put("queues", a.queues());
        view.put("maxJobs", a.maxJobs());
        view.put("running", a.runs().size());
        view.put("runs", a.runs());
        view.put("state", v.state());
        view.put("lastHeartbeat", a.lastHeartbeat().toInstant());
        view.put("startedAt", a.startedAt().toInstant());
        view.put("host", a.host());
        view.put("pid", a.pid());
        return view;
    }
}
