package dev.launch.status.rest;

import dev.launch.common.problem.ProblemException;
import dev.launch.status.messaging.ReadModelProgress;
import dev.launch.status.repository.RunReadModel;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Row;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.Map;

/** Finding a run for a request, read-your-writes (ADR 0004): shared by the run endpoints and {@link KnownRunFilter}. */
@ApplicationScoped
public class RunLookups {
    @Inject
    RunReadModel model;
    @Inject
    ReadModelProgress progress;

    /**
     * The run's row, read-your-writes (ADR 0004): with a consistency token, once the read model holds what the
     * token names; without one, a run id minted a moment ago that is not stored yet is waited for. A 404 only
     * when the run is certainly absent; a 503 with Retry-After when the read model is too far behind to say.
     */
    Uni<Row> findConsistent(String runId, String token) {
        return consistent(token).chain(() -> model.find(runId))
                .chain(row -> row != null ? Uni.createFrom().item(row)
                        : progress.awaitRun(runId, () -> model.find(runId)))
                .onItem().ifNull().failWith(() -> ProblemException.notFound("no run " + runId));
    }

    /** Waits for what a consistency token names to be in the read model (nothing without a token). */
    Uni<Void> consistent(String token) {
        if (token == null || token.isBlank()) {
            return Uni.createFrom().voidItem();
        }
        Map<Integer, Long> needed = ReadModelProgress.parseToken(token);
        return progress.await(needed).invoke(passed -> {
            if (!passed) {
                throw ProblemException.unavailable("The status service has not yet stored what this "
                        + ReadModelProgress.TOKEN_HEADER + " token names (it is behind Kafka). Retry shortly.", 1);
            }
        }).replaceWithVoid();
    }

}
