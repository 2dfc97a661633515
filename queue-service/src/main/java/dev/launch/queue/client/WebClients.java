package dev.launch.queue.client;

import io.vertx.mutiny.core.Vertx;
import io.vertx.mutiny.ext.web.client.WebClient;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;

/** One HTTP client for the calls to other services; it answers on the caller's Vert.x context. */
@ApplicationScoped
public class WebClients {
    @Produces
    @ApplicationScoped
    WebClient client(Vertx vertx) {
        return WebClient.create(vertx);
    }

    void close(@Disposes WebClient client) {
        client.close();
    }
}
