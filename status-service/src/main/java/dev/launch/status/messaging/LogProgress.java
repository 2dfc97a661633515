package dev.launch.status.messaging;

import dev.launch.common.event.Topics;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.utils.Utils;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Whether a run's output is all stored: what tells a follower ({@code launch run --follow}, the dashboard) that the
 * last lines have been read. An agent reports how a run ended only after its output is acknowledged by Kafka
 * (the supervisor flushes the run's log batches first), so once the run's end is in the read model, every batch of
 * it lies before the end offset of its partition of {@code launch.run-logs} as it stands then; the output is
 * complete once this instance (or, for a partition another instance applies, the group's committed offset) is
 * past that offset. The offset is taken at the first question after the end and kept, so runs logging on the
 * same partition afterwards do not hold the answer back.
 */
@ApplicationScoped
public class LogProgress {
    private static final int REMEMBERED = 10_000;

    @Inject
    KafkaAdmin kafkaAdmin;

    @ConfigProperty(name = "mp.messaging.incoming.launch-run-logs.group.id")
    String group;

    private final Map<Integer, Long> next = new ConcurrentHashMap<>();
    /** Per ended run: its partition and the end offset its output lies before. */
    private final Map<String, long[]> ends = java.util.Collections.synchronizedMap(
            new LinkedHashMap<>(256, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, long[]> eldest) {
                    return size() > REMEMBERED;
                }
            });
    private volatile Integer partitions;

    /** A log batch at {@code offset} of {@code partition} is stored (or dead-lettered). */
    public void applied(int partition, long offset) {
        next.merge(partition, offset + 1, Math::max);
    }

    /** Whether every log batch of a run that has ended is stored; ask only once the run's end is read. */
    public Uni<Boolean> completeAfterEnd(String runId) {
        long[] end = ends.get(runId);
        Uni<long[]> known = end != null ? Uni.createFrom().item(end) : endOf(runId).invoke(e -> ends.put(runId, e));
        return known.chain(e -> {
            if (next.getOrDefault((int) e[0], -1L) >= e[1]) {
                return Uni.createFrom().item(true);
            }
            return committed((int) e[0]).map(offset -> offset >= e[1]);
        });
    }

    private Uni<long[]> endOf(String runId) {
        return partitions().chain(count -> {
            int partition = Utils.toPositive(Utils.murmur2(runId.getBytes(StandardCharsets.UTF_8))) % count;
            TopicPartition tp = new TopicPartition(Topics.RUN_LOGS, partition);
            return Uni.createFrom().completionStage(() -> kafkaAdmin.get()
                            .listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).toCompletionStage())
                    .map(info -> new long[]{partition, info.offset()});
        });
    }

    private Uni<Long> committed(int partition) {
        TopicPartition tp = new TopicPartition(Topics.RUN_LOGS, partition);
        return Uni.createFrom().completionStage(() -> kafkaAdmin.get().listConsumerGroupOffsets(group)
                        .partitionsToOffsetAndMetadata().toCompletionStage())
                .map(offsets -> {
                    OffsetAndMetadata committed = offsets.get(tp);
                    return committed == null ? -1L : committed.offset();
                });
    }

    private Uni<Integer> partitions() {
        Integer known = partitions;
        if (known != null) {
            return Uni.createFrom().item(known);
        }
        return Uni.createFrom().completionStage(() -> kafkaAdmin.get().describeTopics(List.of(Topics.RUN_LOGS))
                        .topicNameValues().get(Topics.RUN_LOGS).toCompletionStage())
                .map(d -> {
                    partitions = d.partitions().size();
                    return partitions;
                });
    }
}
