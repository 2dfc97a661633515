package dev.launch.web;

import dev.launch.common.problem.Problem;

import io.vertx.ext.web.Router;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Refuses a body declared larger than {@code launch.http.max-body-bytes} with a 413 problem+json before it
 * is read. (Bodies sent chunked without a length are still cut by {@code quarkus.http.limits.max-body-size}.)
 */
@ApplicationScoped
public class BodyLimitFilter {
    @ConfigProperty(name = "launch.http.max-body-bytes", defaultValue = "1048576")
    long maxBytes;
    /** Paths whose bodies are streamed under a limit of their own (the job service's uploads). */
    @ConfigProperty(name = "launch.http.streamed-paths")
    java.util.Optional<java.util.List<String>> streamedPaths;

    void install(@Observes Router router) {
        java.util.Set<String> streamed = java.util.Set.copyOf(streamedPaths.orElse(java.util.List.of()));
        router.route().order(Integer.MIN_VALUE).handler(ctx -> {
            if (streamed.contains(ctx.request().path())) {
                ctx.next();
                return;
            }
            String length = ctx.request().getHeader("Content-Length");
            if (length != null) {
                long declared;
                try {
                    declared = Long.parseLong(length.trim());
                } catch (NumberFormatException e) {
                    declared = -1;
                }
                if (declared > maxBytes) {
                    String body = "{\"type\":\"about:blank\",\"title\":\"Content Too Large\",\"status\":413,"
                            + "\"detail\":\"The request body is " + declared + " bytes; at most " + maxBytes
                            + " bytes are accepted. Send a smaller body.\"}";
                    ctx.response().setStatusCode(413).putHeader("Content-Type", Problem.MEDIA_TYPE)
                            .putHeader("Connection", "close").end(body);
                    return;
                }
            }
            ctx.next();
        });
    }
}
