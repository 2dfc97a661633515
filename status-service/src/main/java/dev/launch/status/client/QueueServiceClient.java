package dev.launch.status.client;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.common.event.Events;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.core.Vertx;
import io.vertx.mutiny.ext.web.client.WebClient;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Reads the queues the queue service defines (its {@code GET /api/v1/queues}, every page). */
@ApplicationScoped
public class QueueServiceClient {
    private static final int PAGE = 500;
    /** Pages read at most: 50,000 queues, far past any installation, so a wrong answer cannot loop forever. */
    private static final int MAX_PAGES = 100;
    /** How long an answer of the queue service is shown again rather than asked for afresh. */
    static final Duration FRESH = Duration.ofSeconds(2);

    @Inject
    Vertx vertx;
    @ConfigProperty(name = "launch.queue-service.url")
    URI queueService;

    private volatile WebClient client;

    /**
     * What the queue service answered at most {@link #FRESH} ago: every open dashboard refreshes its queues page on
     * each burst of run changes, and they share one question per period.
     */
    private final Uni<List<JsonNode>> recent = Uni.createFrom().deferred(() -> page(null, new ArrayList<>(), 0))
            .memoize().atLeast(FRESH);

    /** The queue definitions, by name; fails with the reason when the queue service cannot be asked. */
    public Uni<List<JsonNode>> queues() {
        return recent;
    }

    private Uni<List<JsonNode>> page(String after, List<JsonNode> into, int pages) {
        String url = queueService.resolve("/api/v1/queues?limit=" + PAGE + (after == null ? ""
                : "&after=" + URLEncoder.encode(after, StandardCharsets.UTF_8))).toString();
        return client().getAbs(url).timeout(2000).send().ifNoItem().after(Duration.ofSeconds(3)).fail()
                .chain(response -> {
                    if (response.statusCode() != 200) {
                        throw new IllegalStateException("the queue service answered " + response.statusCode());
                    }
                    JsonNode body;
                    try {
                        body = Events.MAPPER.readTree(response.bodyAsString());
                    } catch (java.io.IOException e) {
                        throw new IllegalStateException("the queue service's answer is not JSON: " + e.getMessage());
                    }
                    body.path("items").forEach(into::add);
                    String next = body.path("next").asText(null);
                    return next == null || pages + 1 >= MAX_PAGES ? Uni.createFrom().item(into)
                            : page(next, into, pages + 1);
                });
    }

    private WebClient client() {
        WebClient current = client;
        if (current == null) {
            synchronized (this) {
                if (client == null) {
                    client = WebClient.create(vertx);
                }
                current = client;
            }
        }
        return current;
    }

    @PreDestroy
    void close() {
        if (client != null) {
            client.close();
        }
    }
}
