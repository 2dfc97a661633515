package dev.launch.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.common.event.Events;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** The Launch REST API as the benchmark uses it: set-up calls, and enqueues open-loop or as fast as they go. */
final class Api {
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).executor(Executors.newFixedThreadPool(4)).build();
    final String jobs;
    final String queues;
    final String status;

    Api(String jobs, String queues, String status) {
        this.jobs = jobs;
        this.queues = queues;
        this.status = status;
    }

    /** One accepted enqueue: when it was sent (µs since the epoch), the run, and how long the 202 took (ms). */
    record Sent(long sentMicros, String runId, double answerMillis) {
    }

    /** The outcome of a batch of enqueues. */
    static final class Batch {
        final List<Sent> accepted = Collections.synchronizedList(new ArrayList<>());
        final ConcurrentLinkedQueue<String> refused = new ConcurrentLinkedQueue<>();
        /** how long each refusal took to come (ms) */
        final ConcurrentLinkedQueue<Double> refusedMillis = new ConcurrentLinkedQueue<>();
        final AtomicInteger open = new AtomicInteger();
        volatile long firstSentMicros;
        volatile long lastAnsweredMicros;

        List<String> runIds() {
            synchronized (accepted) {
                return accepted.stream().map(Sent::runId).toList();
            }
        }

        /**
         * "0 refused", or how many by status and reason, e.g. "12 refused: 503 Kafka did not accept the run ×12
         * (with Retry-After)"; failures without an answer (a timeout, a reset) are named by their exception.
         */
        String refusals() {
            if (refused.isEmpty()) {
                return "0 refused";
            }
            Map<String, Long> byReason = new java.util.TreeMap<>();
            refused.forEach(r -> byReason.merge(r, 1L, Long::sum));
            StringBuilder s = new StringBuilder(refused.size() + " refused:");
            byReason.forEach((reason, n) -> s.append(' ').append(reason).append(" ×").append(n).append(';'));
            return s.substring(0, s.length() - 1);
        }
    }

    /** A refusal's reason: its status and the start of its problem's detail, or the failure's class. */
    static String reason(HttpResponse<String> response) {
        String detail = "";
        try {
            JsonNode problem = Events.MAPPER.readTree(response.body());
            detail = problem.path("detail").asText(problem.path("title").asText(""));
        } catch (IOException | RuntimeException e) {
            detail = response.body();
        }
        detail = detail.replaceAll("[0-9]+", "N");
        if (detail.length() > 60) {
            detail = detail.substring(0, 60) + "…";
        }
        boolean retryAfter = response.headers().firstValue("Retry-After").isPresent();
        int code = response.statusCode();
        return code + " " + detail + (code == 503 || code == 429 ? (retryAfter ? " (with Retry-After)"
                : " (no Retry-After)") : "");
    }

    static String reason(Throwable failure) {
        Throwable cause = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
                ? failure.getCause() : failure;
        return "no answer: " + cause.getClass().getSimpleName();
    }

    JsonNode post(String url, String body, int... expected) throws IOException, InterruptedException {
        return call("POST", url, body, expected);
    }

    JsonNode get(String url) throws IOException, InterruptedException {
        return call("GET", url, null, 200);
    }

    private JsonNode call(String method, String url, String body, int... expected) throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60));
        request = body == null ? request.GET()
                : request.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        for (int code : expected) {
            if (response.statusCode() == code) {
                return response.body().isEmpty() ? null : Events.MAPPER.readTree(response.body());
            }
        }
        throw new IOException(method + " " + url + " answered " + response.statusCode() + ": " + response.body());
    }

    /** Milliseconds a GET takes, {@code times} times. */
    List<Double> timeGets(String url, int times) throws IOException, InterruptedException {
        List<Double> took = new ArrayList<>();
        for (int i = 0; i < times; i++) {
            long start = System.nanoTime();
            get(url);
            took.add((System.nanoTime() - start) / 1e6);
        }
        return took;
    }

    private CompletableFuture<Void> enqueue(String queue, String body, Batch batch) {
        return send("/api/v1/queues/" + queue + "/runs", body, 1, batch);
    }

    /**
     * Sends one enqueue request carrying {@code runs} runs and records its answer in {@code batch}: the runs of a
     * 202 (a single enqueue's answer, or each of a batch's {@code runs}) as accepted, anything else as {@code runs}
     * refusals with its reason.
     */
    private CompletableFuture<Void> send(String path, String body, int runs, Batch batch) {
        long sentNanos = System.nanoTime();
        long sentMicros = RunEvents.micros(Instant.now());
        if (batch.firstSentMicros == 0) {
            batch.firstSentMicros = sentMicros;
        }
        batch.open.incrementAndGet();
        HttpRequest request = HttpRequest.newBuilder(URI.create(queues + path))
                .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        return http.sendAsync(request, HttpResponse.BodyHandlers.ofString()).handle((response, failure) -> {
            double took = (System.nanoTime() - sentNanos) / 1e6;
            batch.lastAnsweredMicros = RunEvents.micros(Instant.now());
            String refused = failure != null ? reason(failure) : response.statusCode() != 202 ? reason(response) : null;
            if (refused == null) {
                try {
                    JsonNode answer = Events.MAPPER.readTree(response.body());
                    for (JsonNode run : answer.has("runs") ? answer.get("runs") : List.of(answer)) {
                        batch.accepted.add(new Sent(sentMicros, run.get("runId").asText(), took));
                    }
                } catch (IOException e) {
                    batch.refused.add("unreadable answer: " + e);
                }
            } else {
                for (int i = 0; i < runs; i++) {
                    batch.refused.add(refused);
                    batch.refusedMillis.add(took);
                }
            }
            batch.open.decrementAndGet();
            return null;
        });
    }

    /**
     * {@code total} runs in batches of {@code size} ({@code POST .../runs:batch}) with at most {@code inFlight}
     * batches open; each run's send time is its batch's.
     */
    Batch batchedLoop(String queue, String runBody, int total, int size, int inFlight) throws InterruptedException {
        Batch batch = new Batch();
        Semaphore permits = new Semaphore(inFlight);
        for (int sent = 0; sent < total; sent += size) {
            int n = Math.min(size, total - sent);
            String body = "{\"runs\":[" + String.join(",", java.util.Collections.nCopies(n, runBody)) + "]}";
            permits.acquire();
            send("/api/v1/queues/" + queue + "/runs:batch", body, n, batch).whenComplete((v, e) -> permits.release());
        }
        permits.acquire(inFlight);
        return batch;
    }

    /** Enqueues at {@code perSecond} for {@code seconds}, whatever the answers take (open loop). */
    Batch openLoop(List<String> queueNames, String body, int perSecond, int seconds) throws InterruptedException {
        Batch batch = new Batch();
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        int total = perSecond * seconds;
        AtomicInteger sent = new AtomicInteger();
        long period = 1_000_000_000L / perSecond;
        timer.scheduleAtFixedRate(() -> {
            int n = sent.getAndIncrement();
            if (n < total) {
                enqueue(queueNames.get(n % queueNames.size()), body, batch);
            }
        }, 0, period, TimeUnit.NANOSECONDS);
        RunEvents.await(() -> sent.get() >= total, Duration.ofSeconds(seconds + 60L));
        timer.shutdownNow();
        RunEvents.await(() -> batch.open.get() == 0, Duration.ofSeconds(120));
        return batch;
    }

    /** Enqueues {@code total} runs with at most {@code inFlight} requests open (closed loop, as fast as it goes). */
    Batch closedLoop(List<String> queueNames, String body, int total, int inFlight) throws InterruptedException {
        Batch batch = new Batch();
        Semaphore permits = new Semaphore(inFlight);
        for (int i = 0; i < total; i++) {
            permits.acquire();
            enqueue(queueNames.get(i % queueNames.size()), body, batch).whenComplete((v, e) -> permits.release());
        }
        permits.acquire(inFlight);
        return batch;
    }
}
