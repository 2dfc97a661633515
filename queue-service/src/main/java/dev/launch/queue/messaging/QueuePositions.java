package dev.launch.queue.messaging;

import dev.launch.common.event.TopicAdmin;
import dev.launch.common.event.Topics;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Kafka-side facts about queues: creating a queue's single-partition topic, and how far the agents of a
 * queue have got (their group's committed offset), from which a new run's position is counted.
 */
@ApplicationScoped
public class QueuePositions {
    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;

    private Admin admin;

    void start(@Observes StartupEvent event) {
        admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000));
    }

    void stop(@Observes ShutdownEvent event) {
        admin.close();
    }

    /** Creates {@code launch.queue.<name>} with exactly one partition (blocking). */
    public void createQueueTopic(String queue) {
        TopicAdmin.ensure(admin, List.of(TopicAdmin.queueTopic(queue)));
    }

    /** Deletes {@code launch.queue.<name>} (blocking); a topic already gone is fine. */
    public void deleteQueueTopic(String queue) {
        try {
            admin.deleteTopics(List.of(Topics.queue(queue))).all().get(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            if (!(e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException)) {
                throw new IllegalStateException("cannot delete topic " + Topics.queue(queue) + ": "
                        + e.getCause().getMessage(), e.getCause());
            }
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("Kafka did not delete topic " + Topics.queue(queue) + " in time", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while deleting a topic", e);
        }
    }

    /** The offset of the next item the agents of {@code queue} will take (their group's committed offset). */
    public CompletionStage<Long> nextToTake(String queue) {
        TopicPartition partition = new TopicPartition(Topics.queue(queue), 0);
        return admin.listConsumerGroupOffsets(Topics.agentGroup(queue)).partitionsToOffsetAndMetadata()
                .toCompletionStage()
                .thenCompose(committed -> {
                    OffsetAndMetadata mark = committed.get(partition);
                    if (mark != null) {
                        return CompletableFuture.completedFuture(mark.offset());
                    }
                    return admin.listOffsets(Map.of(partition, OffsetSpec.earliest())).partitionResult(partition)
                            .toCompletionStage().thenApply(info -> info.offset());
                });
    }
}
