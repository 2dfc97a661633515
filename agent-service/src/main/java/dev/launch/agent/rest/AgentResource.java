package dev.launch.agent.rest;

import dev.launch.agent.dispatch.Agent;
import dev.launch.common.event.AgentStatus;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

import java.util.LinkedHashMap;
import java.util.Map;

/** This agent's own state (the status service shows all agents). */
@Path("/api/v1/agent")
@Produces(MediaType.APPLICATION_JSON)
public class AgentResource {
    @Inject
    Agent agent;

    @GET
    public Map<String, Object> get() {
        AgentStatus status = agent.status();
        Map<String, Object> view = new LinkedHashMap<>();
        view.put("agentId", status.agentId());
        view.put("state", agent.state());
        view.put("queues", status.queues());
        view.put("maxJobs", status.maxJobs());
        view.put("running", status.runs().size());
        view.put("runs", status.runs());
        view.put("host", status.host());
        view.put("pid", status.pid());
        view.put("startedAt", status.startedAt());
        return view;
    }
}
