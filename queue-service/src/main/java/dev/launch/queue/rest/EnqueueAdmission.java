package dev.launch.queue.rest;

import dev.launch.common.event.Events;
import dev.launch.common.problem.Problem;
import dev.launch.common.problem.ProblemException;
import dev.launch.queue.service.EnqueueService;
import io.vertx.ext.web.Router;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

import java.util.regex.Pattern;

/**
 * Refuses an enqueue while the queue service is at capacity before its body is read or parsed: under an overload
 * the refusal has to cost next to nothing, or refusing alone would take the cores the accepted runs need.
 * ({@link EnqueueService} checks again once it knows how many runs a request carries.)
 */
@ApplicationScoped
public class EnqueueAdmission {
    private static final Pattern ENQUEUE = Pattern.compile("/api/v1/queues/([^/]+)/runs(?::batch|%3[Aa]batch)?");

    @Inject
    EnqueueService enqueue;

    void install(@Observes Router router) {
        router.route().order(Integer.MIN_VALUE + 1).handler(ctx -> {
            java.util.regex.Matcher enqueuePath = ENQUEUE.matcher(ctx.request().path());
            if (ctx.request().method() == io.vertx.core.http.HttpMethod.POST && enqueuePath.matches()) {
                ProblemException refused = enqueue.refusalNow(enqueuePath.group(1));
                if (refused != null) {
                    Problem problem = refused.problem();
                    ctx.response().setStatusCode(problem.status()).putHeader("Content-Type", Problem.MEDIA_TYPE)
                            .putHeader("Retry-After", String.valueOf(refused.retryAfterSeconds()))
                            .end(Events.MAPPER.valueToTree(problem).toString());
                    return;
                }
            }
            ctx.next();
        });
    }
}
