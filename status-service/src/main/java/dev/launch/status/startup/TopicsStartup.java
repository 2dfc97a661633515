package dev.launch.status.startup;

import dev.launch.common.event.TopicAdmin;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** Creates the contract's topics before the consumers subscribe (a no-op when they exist). */
public class TopicsStartup {
    void onStart(@Observes @Priority(1) StartupEvent event,
                 @ConfigProperty(name = "kafka.bootstrap.servers") String bootstrap) {
        TopicAdmin.ensureShared(bootstrap);
    }
}
