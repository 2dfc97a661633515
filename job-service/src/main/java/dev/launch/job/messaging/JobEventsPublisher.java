package dev.launch.job.messaging;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.JobVersionCreated;
import dev.launch.common.job.JobVersion;
import io.smallrye.mutiny.Uni;
import io.smallrye.reactive.messaging.MutinyEmitter;
import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Message;

/** Publishes {@code JobVersionCreated} on {@code launch.jobs}, keyed by job name. */
@ApplicationScoped
public class JobEventsPublisher {
    @Inject
    @Channel("launch-jobs")
    MutinyEmitter<String> emitter;

    /** Completes once the broker has acknowledged the event (acks=all). */
    public Uni<Void> versionCreated(JobVersion version) {
        EventEnvelope envelope = EventEnvelope.of(EventTypes.JOB_VERSION_CREATED, version.name(),
                new JobVersionCreated(version));
        Message<String> message = Message.of(Events.encode(envelope))
                .addMetadata(OutgoingKafkaRecordMetadata.<String>builder().withKey(version.name()).build());
        return emitter.sendMessage(message);
    }
}
