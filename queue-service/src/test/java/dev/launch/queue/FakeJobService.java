package dev.launch.queue;

import com.sun.net.httpserver.HttpServer;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A stand-in for the job service's read API: serves {@code GET /api/v1/jobs/{name}} and
 * {@code /api/v1/jobs/{name}/versions/{v}} from JSON files tests write under {@link #DIR}
 * ({@code <name>/<version>.json}, {@code <name>/latest.json}).
 */
public class FakeJobService implements QuarkusTestResourceLifecycleManager {
    public static final Path DIR = Path.of("target", "fake-jobs").toAbsolutePath();
    public static final Path STATUS = Path.of("target", "fake-status").toAbsolutePath();
    private HttpServer server;

    @Override
    public Map<String, String> start() {
        try {
            Files.createDirectories(DIR);
            Files.createDirectories(STATUS);
            server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        server.createContext("/api/v1/jobs/", exchange -> {
            String[] parts = exchange.getRequestURI().getPath().split("/");
            java.util.concurrent.CountDownLatch held = parts.length > 4 ? HELD.get(parts[4]) : null;
            if (held != null) {
                try {
                    held.await(30, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            Path file = parts.length == 5 ? DIR.resolve(parts[4]).resolve("latest.json")
                    : parts.length == 7 ? DIR.resolve(parts[4]).resolve(parts[6] + ".json") : null;
            byte[] body = file != null && Files.exists(file) ? Files.readAllBytes(file)
                    : "{\"status\":404}".getBytes();
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(file != null && Files.exists(file) ? 200 : 404, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        // the status service's queue stats, from <STATUS>/<queue>.json; stop-all leaves <queue>.stopped
        server.createContext("/api/v1/queue-stats/", exchange -> {
            String[] parts = exchange.getRequestURI().getPath().split("/");
            String queue = parts[4];
            byte[] body;
            int code;
            if ("POST".equals(exchange.getRequestMethod()) && parts.length == 6 && "stop-all".equals(parts[5])) {
                Files.writeString(STATUS.resolve(queue + ".stopped"), "yes");
                body = "{}".getBytes();
                code = 202;
            } else if (Files.exists(STATUS.resolve(queue + ".json"))) {
                body = Files.readAllBytes(STATUS.resolve(queue + ".json"));
                code = 200;
            } else {
                body = "{\"status\":404}".getBytes();
                code = 404;
            }
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(code, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool()); // a held read holds only itself
        server.start();
        return Map.of("launch.job-service.url", "http://127.0.0.1:" + server.getAddress().getPort(),
                "launch.status-service.url", "http://127.0.0.1:" + server.getAddress().getPort());
    }

    public static void register(String name, int version, String json) {
        try {
            Path dir = DIR.resolve(name);
            Files.createDirectories(dir);
            Files.writeString(dir.resolve(version + ".json"), json);
            Files.writeString(dir.resolve("latest.json"), json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static final Map<String, java.util.concurrent.CountDownLatch> HELD =
            new java.util.concurrent.ConcurrentHashMap<>();

    /** Reads of job {@code name} are not answered until {@link #release}. */
    public static void hold(String name) {
        HELD.put(name, new java.util.concurrent.CountDownLatch(1));
    }

    public static void release(String name) {
        java.util.concurrent.CountDownLatch held = HELD.remove(name);
        if (held != null) {
            held.countDown();
        }
    }

    /** The job service no longer knows {@code name}: every read of it answers 404. */
    public static void forget(String name) {
        try (var files = Files.list(DIR.resolve(name))) {
            for (Path file : files.toList()) {
                Files.delete(file);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Serves {@code /versions/<alias>} as version {@code version}. */
    public static void alias(String name, String alias, int version) {
        try {
            Path dir = DIR.resolve(name);
            Files.copy(dir.resolve(version + ".json"), dir.resolve(alias + ".json"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What the stand-in status service says of {@code queue}. */
    public static void queueStats(String queue, int queued, int running) {
        try {
            Files.writeString(STATUS.resolve(queue + ".json"),
                    "{\"queued\":" + queued + ",\"running\":" + running + ",\"agents\":[]}");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static boolean stopAllAsked(String queue) {
        return Files.exists(STATUS.resolve(queue + ".stopped"));
    }

    @Override
    public void stop() {
        if (server != null) {
            server.stop(0);
        }
    }
}
