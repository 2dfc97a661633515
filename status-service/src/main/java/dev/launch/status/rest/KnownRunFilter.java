package dev.launch.status.rest;

import dev.launch.common.naming.RunIds;
import dev.launch.status.messaging.ReadModelProgress;
import io.smallrye.mutiny.Uni;
import jakarta.inject.Inject;
import jakarta.ws.rs.container.ContainerRequestContext;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A stream of one run ({@code /runs/{id}/events}, {@code /runs/{id}/logs/stream}) opens only once the run is found:
 * its 404 or 503 is answered here, as a problem, before the stream's headers are sent, which a failing stream could
 * no longer do.
 */
public class KnownRunFilter {
    private static final Pattern RUN_STREAM = Pattern.compile("/api/v1/runs/([^/]+)/(?:events|logs/stream)");

    @Inject
    RunLookups lookups;

    @ServerRequestFilter
    public Uni<Void> knownRun(ContainerRequestContext request) {
        Matcher stream = RUN_STREAM.matcher(request.getUriInfo().getPath());
        if (!"GET".equals(request.getMethod()) || !stream.matches() || !RunIds.isValid(stream.group(1))) {
            return Uni.createFrom().voidItem(); // not a run's stream, or a bad id the resource answers with its 400
        }
        return lookups.findConsistent(stream.group(1), request.getHeaderString(ReadModelProgress.TOKEN_HEADER))
                .replaceWithVoid();
    }
}
