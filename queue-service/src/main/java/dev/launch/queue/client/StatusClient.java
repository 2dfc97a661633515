package dev.launch.queue.client;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.common.event.Events;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.ext.web.client.WebClient;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.net.URI;
import java.time.Duration;

/** Reads what the status service (the run read model) knows of a queue: counts, oldest run, agents. */
@ApplicationScoped
public class StatusClient {
    @Inject
    WebClient client;
    @ConfigProperty(name = "launch.status-service.url")
    URI statusService;

    /** {@code {queued, running, states, oldestQueuedAt?, agents}}, or null when the status service cannot tell. */
    public Uni<JsonNode> stats(String queue) {
        return client.getAbs(statusService.resolve("/api/v1/queue-stats/" + queue).toString()).timeout(2000).send()
                .ifNoItem().after(Duration.ofSeconds(3)).fail()
                .map(response -> {
                    if (response.statusCode() != 200) {
                        return (JsonNode) null;
                    }
                    try {
                        return Events.MAPPER.readTree(response.bodyAsString());
                    } catch (java.io.IOException e) {
                        return null;
                    }
                })
                .onFailure().recoverWithNull();
    }

    /** Asks the status service to stop every unfinished run of {@code queue}; fails when it cannot. */
    public Uni<Void> stopAll(String queue) {
        return client.postAbs(statusService.resolve("/api/v1/queue-stats/" + queue + "/stop-all").toString())
                .timeout(30_000).send()
                .map(response -> {
                    if (response.statusCode() / 100 != 2) {
                        throw new IllegalStateException("status service answered " + response.statusCode());
                    }
                    return (Void) null;
                });
    }
}
