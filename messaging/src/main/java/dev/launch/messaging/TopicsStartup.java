package dev.launch.messaging;

import dev.launch.common.event.Topics;

import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * In every service: creates the contract's shared topics at start-up, before anything else observes the
 * start (a no-op when they exist).
 */
@ApplicationScoped
public class TopicsStartup {
    void onStart(@Observes @Priority(1) StartupEvent event,
                 @ConfigProperty(name = "kafka.bootstrap.servers") String bootstrap) {
        TopicAdmin.ensureShared(bootstrap);
    }
}
