package dev.launch.queue.messaging;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.Events;
import dev.launch.common.event.QueueChanged;
import io.smallrye.mutiny.Uni;
import io.smallrye.reactive.messaging.MutinyEmitter;
import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Message;

/** Publishes queue changes on {@code launch.queues}, keyed by queue name. */
@ApplicationScoped
public class QueueEventsPublisher {
    @Inject
    @Channel("launch-queues")
    MutinyEmitter<String> emitter;

    /** Completes once the broker acknowledged the event. */
    public Uni<Void> publish(String type, QueueChanged queue) {
        EventEnvelope envelope = EventEnvelope.of(type, queue.name(), queue);
        return emitter.sendMessage(Message.of(Events.encode(envelope))
                .addMetadata(OutgoingKafkaRecordMetadata.<String>builder().withKey(queue.name()).build()));
    }
}
