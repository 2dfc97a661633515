package dev.launch.agent.dispatch;

import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Configurable;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Gives all of a queue's partitions (its one topic, or its level topics) to one member of the queue's group:
 * the agent with the most free slots, so work goes where it can run. Each member states its free slots when it
 * joins (the subscription's user data); on a tie the smallest member id wins (the eager protocol revokes
 * everything before a rebalance, so "who held it" is not known here). An agent asks for a new assignment when its slots change in a way that should move the queue (see
 * {@link QueueDispatcher}). Only one member ever holds a queue, so its order holds.
 */
public class FreeSlotsAssignor implements ConsumerPartitionAssignor, Configurable {
    /** Consumer config key carrying the agent's {@link Slots}. */
    public static final String SLOTS_CONFIG = "launch.agent.slots";
    public static final String NAME = "launch-free-slots";

    private Slots slots;

    @Override
    public void configure(Map<String, ?> configs) {
        slots = (Slots) configs.get(SLOTS_CONFIG);
    }

    @Override
    public ByteBuffer subscriptionUserData(Set<String> topics) {
        ByteBuffer data = ByteBuffer.allocate(Integer.BYTES);
        data.putInt(slots == null ? 0 : slots.free());
        data.flip();
        return data;
    }

    @Override
    public GroupAssignment assign(Cluster metadata, GroupSubscription group) {
        Map<String, Subscription> members = group.groupSubscription();
        String owner = null;
        int best = -1;
        for (String member : new TreeSet<>(members.keySet())) {
            int free = free(members.get(member));
            if (free > best) {
                owner = member;
                best = free;
            }
        }
        Map<String, Assignment> assignments = new HashMap<>();
        for (Map.Entry<String, Subscription> member : members.entrySet()) {
            List<TopicPartition> partitions = new ArrayList<>();
            if (member.getKey().equals(owner)) {
                for (String topic : member.getValue().topics()) {
                    for (PartitionInfo info : metadata.partitionsForTopic(topic)) {
                        partitions.add(new TopicPartition(topic, info.partition()));
                    }
                }
            }
            assignments.put(member.getKey(), new Assignment(partitions));
        }
        return new GroupAssignment(assignments);
    }

    private static int free(Subscription subscription) {
        ByteBuffer data = subscription.userData();
        return data == null || data.remaining() < Integer.BYTES ? 0 : data.duplicate().getInt();
    }

    @Override
    public void onAssignment(Assignment assignment, ConsumerGroupMetadata metadata) {
        // nothing kept between rebalances
    }

    @Override
    public String name() {
        return NAME;
    }
}
