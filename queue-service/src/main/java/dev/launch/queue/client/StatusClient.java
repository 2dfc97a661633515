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

/** Reads run counts per state of a queue from the status service (the run read model lives there). */
@ApplicationScoped
public class StatusClient {
    @Inject
    WebClient client;
    @ConfigProperty(name = "launch.status-service.url")
    URI statusService;

    /** {@code {QUEUED: n, RUNNING: m, ...}}, or null when the status service cannot tell. */
    public Uni<JsonNode> counts(String queue) {
        return client.getAbs(statusService.resolve("/api/v1/runs/counts").toString())
                .addQueryParam("queue", queue).timeout(2000).send()
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
}
