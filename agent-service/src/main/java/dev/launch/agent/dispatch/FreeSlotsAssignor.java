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
 * joins (the subscription's user data), and when it last took a run; on a tie the agent idle longest wins,
 * which spreads a shared queue's runs over its agents (then the smallest member id). An agent asks for a new assignment when its slots change in a way that should move the queue (see
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
        ByteBuffer data = ByteBuffer.allocate(Integer.BYTES + Long.BYTES);
        data.putInt(slots == null ? 0 : slots.free());
        data.putLong(slots == null ? 0 : slots.lastTakenAt());
        data.flip();
        return data;
    }

    @Override
    public GroupAssignment assign(Cluster metadata, GroupSubscription group) {
        Map<String, Subscription> members = group.groupSubscription();
        String owner = null;
        int best = -1;
        long bestTakenAt = Long.MAX_VALUE;
        for (String member : new TreeSet<>(members.keySet())) {
            ByteBuffer data = members.get(member).userData();
            int free = 0;
            long takenAt = Long.MAX_VALUE;
            if (data != null && data.remaining() >= Integer.BYTES + Long.BYTES) {
                ByteBuffer read = data.duplicate();
                free = read.getInt();
                takenAt = read.getLong();
            }
            if (free > best || (free == best && takenAt < bestTakenAt)) {
                owner = member;
                best = free;
                bestTakenAt = takenAt;
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

    @Override
    public void onAssignment(Assignment assignment, ConsumerGroupMetadata metadata) {
        // nothing kept between rebalances
    }

    @Override
    public String name() {
        return NAME;
    }
}
