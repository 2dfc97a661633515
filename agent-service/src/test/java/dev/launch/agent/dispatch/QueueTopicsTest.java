package dev.launch.agent.dispatch;

import dev.launch.common.event.Topics;
import dev.launch.common.run.Priority;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Which topics a dispatcher subscribes to by name (the rest find their queue's topics by pattern). */
class QueueTopicsTest {

    @Test
    void aQueueWhoseTopicsExistIsSubscribedByNameAndOneNotYetCreatedByPattern() {
        Set<String> existing = new HashSet<>(Set.of("launch.runs", Topics.queue("plain")));
        for (Priority level : Priority.values()) {
            existing.add(Topics.queueLevel("levels", level));
        }
        existing.add(Topics.queueLevel("half", Priority.HIGH));

        assertEquals(List.of(Topics.queue("plain")), Agent.existingQueueTopics("plain", existing));
        assertEquals(Topics.queueTopics("levels", true), Agent.existingQueueTopics("levels", existing));
        assertEquals(List.of(), Agent.existingQueueTopics("half", existing), "some levels missing: by pattern");
        assertEquals(List.of(), Agent.existingQueueTopics("later", existing), "not created yet: by pattern");
        assertEquals(List.of(), Agent.existingQueueTopics("plain", Set.of()), "topics unknown: by pattern");
    }
}
