package dev.launch.job.rest;

import dev.launch.common.event.Events;
import dev.launch.common.problem.Problem;
import dev.launch.common.problem.ProblemException;
import dev.launch.job.service.SourceResolver;
import io.vertx.core.Vertx;
import io.vertx.core.file.AsyncFile;
import io.vertx.core.file.OpenOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code POST /api/v1/uploads}: code from a machine that is not the job service's (a gzipped tar, as
 * {@code launch job create --code DIR} sends it, or {@code tar -czf - -C DIR .}). The body is streamed to a file
 * under its own limit ({@code launch.code.max-upload-bytes}, not the 1 MiB of JSON bodies), unpacked within the
 * code limits, and kept as a content-addressed snapshot like a directory's. Answers 201
 * {@code {artifact: "upload:sha256:<hex>", digest, files, bytes}}; a job is then created with
 * {@code source: {type: "code", artifact}}.
 */
@ApplicationScoped
public class UploadRoute {
    public static final String PATH = "/api/v1/uploads";
    private static final Logger LOG = Logger.getLogger(UploadRoute.class);
    private static final Set<String> TYPES = Set.of("application/gzip", "application/x-gzip", "application/x-tar+gzip",
            "application/octet-stream");

    @Inject
    SourceResolver sources;
    @Inject
    Vertx vertx;
    @ConfigProperty(name = "launch.code.max-upload-bytes")
    long maxUploadBytes;

    void install(@Observes Router router) {
        router.post(PATH).order(Integer.MIN_VALUE + 1).handler(this::upload);
    }

    private void upload(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        String type = request.getHeader("Content-Type");
        String media = type == null ? "" : type.split(";")[0].trim().toLowerCase(java.util.Locale.ROOT);
        if (!TYPES.contains(media)) {
            problem(ctx, 415, "Unsupported Media Type", "send the code as a gzipped tar with Content-Type: "
                    + "application/gzip (tar -czf - -C DIR .), not " + (type == null ? "no Content-Type" : type));
            return;
        }
        String length = request.getHeader("Content-Length");
        if (length != null && parse(length) > maxUploadBytes) {
            tooLarge(ctx);
            return;
        }
        request.pause();
        vertx.fileSystem().createTempFile("launch-upload-", ".tar.gz").onFailure(e -> failed(ctx, e))
                .onSuccess(path -> vertx.fileSystem().open(path, new OpenOptions().setWrite(true))
                        .onFailure(e -> failed(ctx, e))
                        .onSuccess(file -> receive(ctx, path, file)));
    }

    private void receive(RoutingContext ctx, String path, AsyncFile file) {
        HttpServerRequest request = ctx.request();
        AtomicLong received = new AtomicLong();
        AtomicBoolean refused = new AtomicBoolean();
        request.handler(chunk -> {
            if (refused.get()) {
                return;
            }
            if (received.addAndGet(chunk.length()) > maxUploadBytes) {
                refused.set(true);
                file.close().onComplete(c -> vertx.fileSystem().delete(path));
                tooLarge(ctx);
                return;
            }
            file.write(chunk);
            if (file.writeQueueFull()) {
                request.pause();
                file.drainHandler(v -> request.resume());
            }
        });
        request.exceptionHandler(e -> {
            if (refused.compareAndSet(false, true)) {
                file.close().onComplete(c -> vertx.fileSystem().delete(path));
                LOG.warnf("an upload broke off after %d bytes: %s", received.get(), e.toString());
            }
        });
        request.endHandler(v -> {
            if (refused.get()) {
                return;
            }
            file.close().onFailure(e -> failed(ctx, e)).onSuccess(closed -> vertx.<SourceResolver.Resolved>executeBlocking(
                            () -> sources.storeUpload(Path.of(path)), false)
                    .onComplete(done -> {
                        vertx.fileSystem().delete(path);
                        if (done.failed()) {
                            failed(ctx, done.cause());
                            return;
                        }
                        Map<String, Object> body = new LinkedHashMap<>();
                        body.put("artifact", done.result().source().artifact());
                        body.put("digest", done.result().contentDigest());
                        body.put("bytes", received.get());
                        respond(ctx, 201, "application/json", body);
                    }));
        });
        request.resume();
    }

    private void tooLarge(RoutingContext ctx) {
        // the rest of the body is read and dropped (the handler ignores it); the connection closes after the answer
        ctx.response().putHeader("Connection", "close");
        problem(ctx, 413, "Content Too Large", "the upload is larger than " + maxUploadBytes + " bytes "
                + "(launch.code.max-upload-bytes); ship the code as an image or a git repository");
    }

    private void failed(RoutingContext ctx, Throwable e) {
        if (e instanceof ProblemException problem) {
            respond(ctx, problem.problem().status(), Problem.MEDIA_TYPE, problem.problem());
            return;
        }
        LOG.errorf(e, "storing an upload failed");
        problem(ctx, 500, "Internal Server Error", "storing the upload failed: " + e.getMessage());
    }

    private static void problem(RoutingContext ctx, int status, String title, String detail) {
        respond(ctx, status, Problem.MEDIA_TYPE, new Problem("about:blank", title, status, detail, null));
    }

    private static void respond(RoutingContext ctx, int status, String type, Object body) {
        if (ctx.response().ended()) {
            return;
        }
        try {
            ctx.response().setStatusCode(status).putHeader("Content-Type", type).end(Events.MAPPER.writeValueAsString(body));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            ctx.response().setStatusCode(500).end();
        }
    }

    private static long parse(String length) {
        try {
            return Long.parseLong(length.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
