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
        final AtomicInteger open = new AtomicInteger();
        volatile long firstSentMicros;
        volatile long lastAnsweredMicros;

        List<String> runIds() {
            synchronized (accepted) {
                return accepted.stream().map(Sent::runId).toList();
            }
        }
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
        long sentNanos = System.nanoTime();
        long sentMicros = RunEvents.micros(Instant.now());
        if (batch.firstSentMicros == 0) {
            batch.firstSentMicros = sentMicros;
        }
        batch.open.incrementAndGet();
        HttpRequest request = HttpRequest.newBuilder(URI.create(queues + "/api/v1/queues/" + queue + "/runs"))
                .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        return http.sendAsync(request, HttpResponse.BodyHandlers.ofString()).handle((response, failure) -> {
            double took = (System.nanoTime() - sentNanos) / 1e6;
            batch.lastAnsweredMicros = RunEvents.micros(Instant.now());
            if (failure != null) {
                batch.refused.add(failure.toString());
            } else if (response.statusCode() != 202) {
                batch.refused.add(response.statusCode() + " " + response.body());
            } else {
                try {
                    batch.accepted.add(new Sent(sentMicros, Events.MAPPER.readTree(response.body()).get("runId")
                            .asText(), took));
                } catch (IOException e) {
                    batch.refused.add(e.toString());
                }
            }
            batch.open.decrementAndGet();
            return null;
        });
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
