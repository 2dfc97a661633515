package dev.launch.agent.dispatch;

import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

class FreeSlotsAssignorTest {
    private static final List<String> LEVELS = List.of("launch.queue.q.CRITICAL", "launch.queue.q.LOW");
    private static final Node NODE = new Node(0, "localhost", 9092);
    private static final Cluster CLUSTER = new Cluster("c", List.of(NODE), LEVELS.stream()
            .map(t -> new PartitionInfo(t, 0, NODE, new Node[]{NODE}, new Node[]{NODE})).toList(), Set.of(), Set.of());

    private static Subscription member(int free, long lastTakenAt) {
        ByteBuffer data = ByteBuffer.allocate(12).putInt(free).putLong(lastTakenAt).flip();
        return new Subscription(LEVELS, data);
    }

    private static String holder(Map<String, Subscription> members) {
        var assignment = new FreeSlotsAssignor().assign(CLUSTER, new GroupSubscription(members)).groupAssignment();
        String holder = null;
        for (var entry : assignment.entrySet()) {
            if (!entry.getValue().partitions().isEmpty()) {
                assertEquals(null, holder, "one member holds the whole queue");
                assertEquals(Set.of(new TopicPartition(LEVELS.get(0), 0), new TopicPartition(LEVELS.get(1), 0)),
                        Set.copyOf(entry.getValue().partitions()));
                holder = entry.getKey();
            }
        }
        return holder;
    }

    @Test
    void theQueueGoesWholeToTheAgentWithTheMostFreeSlots() {
        assertEquals("b", holder(Map.of("a", member(0, 10), "b", member(2, 20), "c", member(1, 5))));
    }

    @Test
    void amongEquallyFreeAgentsTheOneIdleLongestGetsIt() {
        assertEquals("c", holder(Map.of("a", member(1, 30), "b", member(1, 20), "c", member(1, 0))));
        assertEquals("a", holder(Map.of("a", member(0, 7), "b", member(0, 7))));
    }
}
