package dev.launch.web;

import dev.launch.common.problem.Problem;
import io.vertx.ext.web.Router;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

import java.util.Locale;

/**
 * Refuses a request whose path or query holds a NUL character ({@code %00}) with a 400 problem+json before any
 * resource sees it: no name, id, cursor or filter of Launch holds one, and PostgreSQL's text cannot, so such a
 * value reached the database as a 500 ({@code GET /api/v1/jobs?after=a%00b}). Found by the hostile-input suite.
 */
@ApplicationScoped
public class NulFilter {

    void install(@Observes Router router) {
        router.route().order(Integer.MIN_VALUE + 1).handler(ctx -> {
            String uri = ctx.request().uri();
            int nul = uri == null ? -1 : uri.toLowerCase(Locale.ROOT).indexOf("%00");
            if (nul >= 0) {
                int query = uri.indexOf('?');
                String where = query >= 0 && nul > query ? "query" : "path";
                ctx.response().setStatusCode(400).putHeader("Content-Type", Problem.MEDIA_TYPE)
                        .end("{\"type\":\"urn:launch:problem:validation\",\"title\":\"Invalid request\",\"status\":400,"
                                + "\"detail\":\"The request's " + where + " holds a NUL character (%00); no name, id, "
                                + "cursor or filter of Launch does. Remove it.\"}");
                return;
            }
            ctx.next();
        });
    }
}
