package dev.launch.status.messaging;

import dev.launch.common.event.Topics;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * How far the status service has read {@code launch.agents}. An agent is judged lost by the heartbeats it did
 * not send; that judgement is only sound for a time before which every heartbeat sent has been stored. After
 * a database outage or a restart the consumer works through a backlog, and an agent whose latest heartbeats
 * wait in it must not look silent. {@link #horizon} samples the topic's end offsets at each call and answers
 * the latest sample time whose records have all been handled: heartbeats sent before it are all in the store.
 */
@ApplicationScoped
public class AgentFeed {
    private static final String GROUP = "launch.status.agents";


    private final Map<Integer, Long> handled = new ConcurrentHashMap<>();
    private final Deque<Sample> samples = new ArrayDeque<>();
    private Instant horizon;
    private volatile Instant reachableSince;
    @jakarta.inject.Inject
    KafkaAdmin kafkaAdmin;

    private record Sample(Instant at, Map<Integer, Long> ends) {
    }


    /** A record of {@code partition} at {@code offset} was stored (or sent to the dead letters). */
    public void handled(int partition, long offset) {
        handled.merge(partition, offset + 1, Math::max);
    }

    /**
     * Samples the end of {@code launch.agents} now and answers the latest sample time whose records have all
     * been handled (empty until one has); fails while Kafka does not answer.
     */
    public Uni<Optional<Instant>> horizon() {
        Instant now = Instant.now();
        Uni<Map<Integer, Long>> ends = Uni.createFrom().completionStage(() -> admin().describeTopics(
                        java.util.List.of(Topics.AGENTS)).allTopicNames().toCompletionStage())
                .chain(topics -> {
                    Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
                    topics.get(Topics.AGENTS).partitions().forEach(p ->
                            latest.put(new TopicPartition(Topics.AGENTS, p.partition()), OffsetSpec.latest()));
                    return Uni.createFrom().completionStage(admin().listOffsets(latest).all().toCompletionStage());
                })
                .map(result -> {
                    Map<Integer, Long> byPartition = new HashMap<>();
                    result.forEach((tp, info) -> byPartition.put(tp.partition(), info.offset()));
                    return byPartition;
                });
        Uni<Map<Integer, Long>> committed = Uni.createFrom().completionStage(() -> admin()
                        .listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata().toCompletionStage())
                .map(offsets -> {
                    Map<Integer, Long> byPartition = new HashMap<>();
                    offsets.forEach((tp, o) -> {
                        if (Topics.AGENTS.equals(tp.topic()) && o != null) {
                            byPartition.put(tp.partition(), o.offset());
                        }
                    });
                    return byPartition;
                });
        return Uni.combine().all().unis(ends, committed).asTuple()
                .onFailure().invoke(e -> reachableSince = null)
                .map(t -> {
                    if (reachableSince == null) {
                        reachableSince = now;
                    }
                    return advance(new Sample(now, t.getItem1()), t.getItem2());
                });
    }

    /**
     * Since when Kafka has answered without a break (this service's start, or the end of the last outage it
     * saw): agents could not be heard before it, so their silence counts from then at the earliest.
     */
    public Instant reachableSince() {
        Instant since = reachableSince;
        return since == null ? Instant.MAX : since;
    }

    private synchronized Optional<Instant> advance(Sample sample, Map<Integer, Long> committed) {
        samples.addLast(sample);
        while (samples.size() > 1000) {
            samples.pollFirst();
        }
        while (!samples.isEmpty() && covered(samples.peekFirst(), committed)) {
            horizon = samples.pollFirst().at();
        }
        return Optional.ofNullable(horizon);
    }

    private boolean covered(Sample sample, Map<Integer, Long> committed) {
        for (Map.Entry<Integer, Long> end : sample.ends().entrySet()) {
            long done = Math.max(handled.getOrDefault(end.getKey(), 0L), committed.getOrDefault(end.getKey(), 0L));
            if (done < end.getValue()) {
                return false;
            }
        }
        return true;
    }

    private Admin admin() {
        return kafkaAdmin.get();
    }
}
