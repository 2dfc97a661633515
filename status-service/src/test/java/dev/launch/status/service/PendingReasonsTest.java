package dev.launch.status.service;

import dev.launch.status.repository.AgentStore;
import org.junit.jupiter.api.Test;

import java.time.OffsetDateTime;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class PendingReasonsTest {

    private static AgentViews.AgentView agent(int maxJobs, int running) {
        List<String> runs = java.util.stream.IntStream.range(0, running).mapToObj(i -> "run-" + i).toList();
        AgentStore.AgentRow row = new AgentStore.AgentRow("a-" + maxJobs + "-" + running, List.of("gpu"), maxJobs, runs,
                "h", 1, 5000, OffsetDateTime.now(), OffsetDateTime.now(), false);
        return new AgentViews.AgentView(row, running == 0 ? "POLLING" : "RUNNING");
    }

    @Test
    void noAgentServesTheQueue() {
        assertEquals("no agent serves queue 'gpu'; start one with: ./launch agent --queue gpu",
                PendingReasons.explain("gpu", 0, 0, List.of()));
        assertEquals("no agent serves queue 'gpu'; start one with: ./launch agent --queue gpu (waiting behind 3 runs)",
                PendingReasons.explain("gpu", 0, 3, List.of()));
    }

    @Test
    void allAgentsAreAtMaxJobs() {
        assertEquals("all 2 agents serving queue 'gpu' are at max-jobs (3 of 3 slots busy); waiting behind 1 run",
                PendingReasons.explain("gpu", 0, 1, List.of(agent(1, 1), agent(2, 2))));
        assertEquals("the 1 agent serving queue 'gpu' is at max-jobs (1 of 1 slots busy)",
                PendingReasons.explain("gpu", 0, 0, List.of(agent(1, 1))));
    }

    @Test
    void waitingForHigherPriorities() {
        assertEquals("waiting for higher priorities: 2 runs of higher priority go first, then 1 run of its own "
                + "priority", PendingReasons.explain("gpu", 2, 1, List.of(agent(2, 1))));
        assertEquals("waiting for higher priorities: 1 run of higher priority goes first",
                PendingReasons.explain("gpu", 1, 0, List.of(agent(2, 1))));
        assertEquals("the 1 agent serving queue 'gpu' is at max-jobs (1 of 1 slots busy); waiting for higher "
                + "priorities: 4 runs of higher priority go first", PendingReasons.explain("gpu", 4, 0,
                List.of(agent(1, 1))));
    }

    @Test
    void waitingBehindOtherRunsOrNextInLine() {
        assertEquals("waiting behind 2 runs", PendingReasons.explain("gpu", 0, 2, List.of(agent(1, 1), agent(2, 1))));
        assertEquals("next in line; an agent with a free slot takes it in a moment",
                PendingReasons.explain("gpu", 0, 0, List.of(agent(2, 1))));
    }
}
