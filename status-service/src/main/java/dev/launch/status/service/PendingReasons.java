package dev.launch.status.service;

import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.List;

/**
 * Why a QUEUED run is still waiting, in words a user can act on. Built from the agents' last heartbeats
 * (up to one heartbeat interval old) and the run's position.
 */
@ApplicationScoped
public class PendingReasons {
    @Inject
    AgentViews agents;

    public Uni<String> of(String queue, long position) {
        return agents.serving(queue).map(serving -> explain(queue, position, serving));
    }

    static String explain(String queue, long position, List<AgentViews.AgentView> serving) {
        String behind = position == 1 ? "waiting behind 1 run" : "waiting behind " + position + " runs";
        if (serving.isEmpty()) {
            return "no agent serves queue '" + queue + "'; start one with: ./launch agent --queue " + queue
                    + (position > 0 ? " (" + behind + ")" : "");
        }
        if (serving.stream().allMatch(AgentViews.AgentView::isFull)) {
            int busy = serving.stream().mapToInt(v -> v.agent().runs().size()).sum();
            int slots = serving.stream().mapToInt(v -> v.agent().maxJobs()).sum();
            String agentsWord = serving.size() == 1 ? "the 1 agent" : "all " + serving.size() + " agents";
            return agentsWord + " serving queue '" + queue + "' " + (serving.size() == 1 ? "is" : "are")
                    + " at max-jobs (" + busy + " of " + slots + " slots busy)" + (position > 0 ? "; " + behind : "");
        }
        if (position > 0) {
            return behind;
        }
        return "next in line; an agent with a free slot takes it in a moment";
    }
}
