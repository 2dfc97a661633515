package dev.launch.job.startup;

import dev.launch.common.event.TopicAdmin;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** Creates the contract's topics at start-up (a no-op when they exist). */
public class TopicsStartup {
    void onStart(@Observes StartupEvent event, @ConfigProperty(name = "kafka.bootstrap.servers") String bootstrap) {
        TopicAdmin.ensureShared(bootstrap);
    }
}
