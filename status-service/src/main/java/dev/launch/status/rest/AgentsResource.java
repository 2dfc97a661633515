package dev.launch.status.rest;

import dev.launch.common.naming.Names;
import dev.launch.common.problem.ProblemException;
import dev.launch.status.service.AgentViews;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import jakarta.ws.rs.DefaultValue;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;

import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** Every agent that has spoken, with its state: POLLING, RUNNING, LOST (silent too long) or STOPPED. */
@Path("/api/v1/agents")
@Produces(MediaType.APPLICATION_JSON)
public class AgentsResource {
    @Inject
    AgentViews agents;

    /**
     * Agents by id; page with {@code after} = the last id seen ({@code next}). Filters: {@code queue} (agents
     * serving it), {@code state} ({@code POLLING}, {@code RUNNING}, {@code LOST}, {@code STOPPED}; several
     * comma-separated).
     */
    @GET
    public Uni<Map<String, Object>> list(@QueryParam("queue") String queue, @QueryParam("state") String state,
                                         @QueryParam("limit") @DefaultValue("100") int limit,
                                         @QueryParam("after") String after) {
        if (queue != null) {
            Names.require("queue", queue);
        }
        if (limit < 1 || limit > 500) {
            throw ProblemException.invalidField("limit", "must be between 1 and 500");
        }
        Set<String> states = state == null ? null : new HashSet<>();
        if (state != null) {
            for (String one : state.split(",", -1)) {
                String s = one.trim().toUpperCase(Locale.ROOT);
                if (!STATES.contains(s)) {
                    throw ProblemException.invalidField("state", "must be one of " + STATES);
                }
                states.add(s);
            }
        }
        return agents.all().map(views -> {
            List<Map<String, Object>> items = views.stream()
                    .filter(v -> queue == null || v.agent().queues().contains(queue))
                    .filter(v -> states == null || states.contains(v.state()))
                    .filter(v -> after == null || v.agent().agentId().compareTo(after) > 0)
                    .sorted(Comparator.comparing(v -> v.agent().agentId()))
                    .limit(limit)
                    .map(AgentsResource::view).toList();
            Map<String, Object> page = new LinkedHashMap<>();
            page.put("items", items);
            if (items.size() == limit) {
                page.put("next", items.get(items.size() - 1).get("agentId"));
            }
            return page;
        });
    }

    private static final List<String> STATES = List.of("POLLING", "RUNNING", "LOST", "STOPPED");

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
