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

    /**
     * @param higher runs of higher priority levels queued ahead
     * @param same   runs of the run's own level queued ahead
     */
    public Uni<String> of(String queue, long higher, long same) {
        return agents.serving(queue).map(serving -> explain(queue, higher, same, serving));
    }

    static String explain(String queue, long higher, long same, List<AgentViews.AgentView> serving) {
        long position = higher + same;
        String behind;
        if (higher > 0) {
            behind = "waiting for higher priorities: " + runs(higher) + " of higher priority "
                    + (higher == 1 ? "goes" : "go") + " first" + (same > 0 ? ", then " + runs(same) + " of its own "
                    + "priority" : "");
        } else {
            behind = "waiting behind " + runs(same);
        }
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

    private static String runs(long n) {
        return n == 1 ? "1 run" : n + " runs";
    }
}
