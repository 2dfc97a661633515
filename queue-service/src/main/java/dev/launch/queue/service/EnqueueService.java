package dev.launch.queue.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.launch.common.event.Events;
import dev.launch.common.event.QueueChanged;
import dev.launch.common.event.RunRequest;
import dev.launch.common.job.JobVersion;
import dev.launch.common.json.JsonSchemas;
import dev.launch.common.naming.Names;
import dev.launch.common.naming.RunIds;
import dev.launch.common.problem.Problem;
import dev.launch.common.problem.ProblemException;
import dev.launch.common.template.ConfigTemplate;
import dev.launch.messaging.RunLog;
import dev.launch.queue.client.JobVersions;
import dev.launch.queue.messaging.EnqueueWriter;
import dev.launch.queue.messaging.QueuePositions;
import dev.launch.queue.repository.EnqueueStore;
import dev.launch.queue.rest.BatchEnqueueRequest;
import dev.launch.queue.rest.BatchEnqueueResponse;
import dev.launch.queue.rest.EnqueueRequest;
import dev.launch.queue.rest.EnqueueResponse;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import dev.launch.common.run.Priority;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Enqueue: validate everything, resolve the run into a self-contained request, make it durable in Kafka,
 * then answer. Resolution order: job input defaults overlaid by the run's inputs; the run's entrypoint
 * replaces the job's; args are appended; template variable values are checked against the queue's schemas.
 */
@ApplicationScoped
public class EnqueueService {
    private static final Logger LOG = Logger.getLogger(EnqueueService.class);
    @Inject
    JobVersions jobs;
    @Inject
    EnqueueWriter writer;
    @Inject
    EnqueueStore store;
    @Inject
    QueuePositions positions;

    /** Enqueue requests in the works now (a batch is one), for the admission limit. */
    private final java.util.concurrent.atomic.AtomicInteger inFlight = new java.util.concurrent.atomic.AtomicInteger();
    @org.eclipse.microprofile.config.inject.ConfigProperty(name = "launch.enqueue.max-in-flight", defaultValue = "256")
    int maxInFlight;
    private io.micrometer.core.instrument.MeterRegistry metrics;

    @Inject
    void metrics(io.micrometer.core.instrument.MeterRegistry metrics) {
        this.metrics = metrics;
        metrics.gauge("launch_queue_enqueues_in_flight", inFlight);
    }

    /**
     * The queue label of a request's metrics: the queue when this service knows it, else {@code (unknown)}, so
     * requests for queues that do not exist (a typo, a scan) cannot make series without bound.
     */
    private String queueLabel(String queue) {
        return queue != null && store.known(queue) ? queue : "(unknown)";
    }

    /** An enqueue request refused, by why: at-capacity, invalid, not-found, conflict, forbidden, unavailable. */
    private void refused(String queue, String reason) {
        io.micrometer.core.instrument.Counter.builder("launch_queue_enqueues_refused_total")
                .description("enqueue requests refused (a batch is one), by queue and reason; nothing was queued")
                .tag("queue", queueLabel(queue)).tag("reason", reason).register(metrics).increment();
    }

    private void refused(String queue, Throwable failure) {
        int status = failure instanceof ProblemException p ? p.problem().status() : 500;
        refused(queue, switch (status) {
            case 400, 422 -> "invalid";
            case 403 -> "forbidden";
            case 404 -> "not-found";
            case 409 -> "conflict";
            case 503 -> "unavailable";
            default -> "error";
        });
    }

    /** Runs newly queued (answers replayed for an idempotency key are not). */
    private void enqueued(String queue, int runs) {
        if (runs > 0) {
            io.micrometer.core.instrument.Counter.builder("launch_queue_runs_enqueued_total")
                    .description("runs queued (answered 202 for the first time), by queue")
                    .tag("queue", queue).register(metrics).increment(runs);
        }
    }

    /** {@code work}, its refusal counted whether it is thrown at once or comes as the failure of its answer. */
    private <T> Uni<T> counted(String queue, java.util.function.Supplier<Uni<T>> work) {
        Uni<T> answer;
        try {
            answer = work.get();
        } catch (RuntimeException e) {
            if (!(e instanceof AtCapacity)) {
                refused(queue, e);
            }
            throw e;
        }
        return answer.onFailure().invoke(e -> refused(queue, e));
    }

    /** The 503 of admission, counted as at-capacity where it is made. */
    private static final class AtCapacity extends ProblemException {
        AtCapacity(ProblemException problem) {
            super(problem.problem(), problem.retryAfterSeconds());
        }
    }

    /** For tests: sets the admission limit; answers the one it replaces. */
    public int limitInFlight(int max) {
        int before = maxInFlight;
        maxInFlight = max;
        return before;
    }

    /** For tests: sets the target latency of admission and its floor; answers the target it replaces. */
    public java.time.Duration targetLatency(java.time.Duration target, int floor) {
        java.time.Duration before = targetLatency;
        targetLatency = target;
        latencyFloor = floor;
        return before;
    }

    /** Enqueue requests in the works now. */
    public int inFlight() {
        return inFlight.get();
    }

    /**
     * {@code work}, unless more than {@code launch.enqueue.max-in-flight} requests would then be in the works (a
     * batch is one, whatever its size): a 503 with Retry-After at once, so an overload is refused quickly and what is
     * accepted keeps its latency, instead of every request waiting longer.
     */
    private <T> Uni<T> admitted(String queue, boolean single, java.util.function.Supplier<Uni<T>> work) {
        int now = inFlight.incrementAndGet();
        if (now > maxInFlight) {
            inFlight.decrementAndGet();
            throw atCapacity(queue, now - 1);
        }
        long started = System.nanoTime();
        try {
            return work.get().onTermination().invoke(() -> {
                if (single) {
                    took(started);
                }
                if (inFlight.decrementAndGet() == 0) {
                    recentMicros = 0; // nothing waits: what enqueues took before says nothing of the next
                }
            });
        } catch (RuntimeException e) {
            inFlight.decrementAndGet();
            throw e;
        }
    }

    /**
     * Null when an enqueue may go ahead; else the 503 to answer at once, before its body is even read: runs in the
     * works at the limit, or the recent enqueues slower than {@code launch.enqueue.target-latency} (the service
     * cannot keep up: more work would only make everything wait longer).
     */
    public ProblemException refusalNow(String queue) {
        int now = inFlight.get();
        if (now >= maxInFlight) {
            return atCapacity(queue, now);
        }
        long took = recentMicros;
        if (now > latencyFloor && took > targetLatency.toNanos() / 1000) {
            refused(queue, "at-capacity");
            return ProblemException.unavailable("The queue service is at capacity: its enqueues take " + took / 1000
                    + " ms (launch.enqueue.target-latency is " + targetLatency.toMillis() + " ms); nothing was "
                    + "queued. Retry in a second.", 1);
        }
        return null;
    }

    /**
     * While the single enqueues of late (a moving average of their time from admission to answer since the service
     * was last idle; batches take longer by nature and are left out) take longer than this,
     * new ones are refused, unless no more than {@code launch.enqueue.latency-floor} requests are in the works: the service sheds what
     * it cannot do in time instead of making everything wait longer.
     */
    @org.eclipse.microprofile.config.inject.ConfigProperty(name = "launch.enqueue.target-latency", defaultValue = "500ms")
    java.time.Duration targetLatency;
    @org.eclipse.microprofile.config.inject.ConfigProperty(name = "launch.enqueue.latency-floor", defaultValue = "64")
    int latencyFloor;
    /** moving average of the recent enqueues' time from admission to answer, µs */
    private volatile long recentMicros;

    private void took(long startedNanos) {
        long micros = (System.nanoTime() - startedNanos) / 1000;
        long before = recentMicros;
        recentMicros = before == 0 ? micros : (before * 7 + micros) / 8;
    }

    private ProblemException atCapacity(String queue, int busy) {
        refused(queue, "at-capacity");
        return new AtCapacity(ProblemException.unavailable("The queue service is at capacity: " + busy + " enqueues are in the works "
                + "(launch.enqueue.max-in-flight is " + maxInFlight + "); nothing was queued. Retry in a second.", 1));
    }

    public Uni<EnqueueResponse> enqueue(String queueName, EnqueueRequest request) {
        return counted(queueName, () -> admitted(queueName, true, () -> enqueueOne(queueName, request)));
    }

    private Uni<EnqueueResponse> enqueueOne(String queueName, EnqueueRequest request) {
        Names.require("queue", queueName);
        JobRef ref = JobRef.parse(request == null ? null : request.job());
        if (request.idempotencyKey() != null && (request.idempotencyKey().isBlank()
                || request.idempotencyKey().length() > 200)) {
            throw ProblemException.invalidField("idempotencyKey", "must be 1 to 200 characters");
        }
        String key = request.idempotencyKey();
        return store.queue(queueName).chain(queue -> {
            Uni<String> earlier = key == null ? Uni.createFrom().nullItem() : store.earlierAnswer(queueName, key);
            return earlier.chain(previous -> previous != null ? Uni.createFrom().item(replay(previous))
                    : jobs.fetch(ref.name(), ref.version())
                    .map(job -> resolve(queue, job, request))
                    .chain(run -> key == null ? persist(run) : persistOnce(run, key))
                    .invoke(() -> enqueued(queueName, 1)));
        });
    }

    /**
     * A batch: every run is checked as a single enqueue checks it (each distinct job looked up once); any invalid
     * run refuses the whole batch with every error named by its place ({@code runs[3].inputs.epochs}) and nothing
     * queued. Runs whose idempotency key was answered before are answered again; the others are claimed (their
     * keys), then queued together in one Kafka transaction, then recorded here in two round trips.
     */
    public Uni<BatchEnqueueResponse> enqueueBatch(String queueName, BatchEnqueueRequest request) {
        return counted(queueName, () -> checkedBatch(queueName, request))
                .invoke(answer -> enqueued(queueName, answer.queued()));
    }

    private Uni<BatchEnqueueResponse> checkedBatch(String queueName, BatchEnqueueRequest request) {
        Names.require("queue", queueName);
        if (request == null || request.runs() == null || request.runs().isEmpty()) {
            throw ProblemException.badRequest("Send {\"runs\": [{job, inputs?, args?, entrypoint?, "
                    + "templateVariables?, priority?, idempotencyKey?}, ...]} with 1 to " + BatchEnqueueRequest.MAX_RUNS
                    + " runs.");
        }
        List<EnqueueRequest> runs = request.runs();
        if (runs.size() > BatchEnqueueRequest.MAX_RUNS) {
            throw ProblemException.invalidField("runs", "at most " + BatchEnqueueRequest.MAX_RUNS + " runs in one "
                    + "batch; this one has " + runs.size() + ": split it");
        }
        return admitted(queueName, false, () -> enqueueChecked(queueName, runs));
    }

    private Uni<BatchEnqueueResponse> enqueueChecked(String queueName, List<EnqueueRequest> runs) {
        List<Problem.FieldError> errors = new ArrayList<>();
        List<JobRef> refs = new ArrayList<>(runs.size());
        Map<String, Integer> keyAt = new java.util.HashMap<>();
        for (int i = 0; i < runs.size(); i++) {
            EnqueueRequest run = runs.get(i);
            JobRef ref = null;
            if (run == null) {
                errors.add(new Problem.FieldError("runs[" + i + "]", "must be a run object: {job, ...}"));
            } else {
                try {
                    ref = JobRef.parse(run.job());
                } catch (ProblemException e) {
                    placed(errors, i, e);
                }
                String key = run.idempotencyKey();
                if (key != null && (key.isBlank() || key.length() > 200)) {
                    errors.add(new Problem.FieldError("runs[" + i + "].idempotencyKey", "must be 1 to 200 characters"));
                } else if (key != null && keyAt.putIfAbsent(key, i) != null) {
                    errors.add(new Problem.FieldError("runs[" + i + "].idempotencyKey", "repeats the key of runs["
                            + keyAt.get(key) + "]; each run of a batch needs its own key"));
                }
            }
            refs.add(ref);
        }
        return store.queue(queueName).chain(queue -> jobsOf(refs).chain(jobs -> {
            List<RunRequest> resolved = new ArrayList<>(runs.size());
            for (int i = 0; i < runs.size(); i++) {
                Object job = refs.get(i) == null ? null : jobs.get(refs.get(i));
                RunRequest run = null;
                if (job instanceof ProblemException missing) {
                    errors.add(new Problem.FieldError("runs[" + i + "].job", missing.problem().detail()));
                } else if (job instanceof JobVersion version) {
                    try {
                        run = resolve(queue, version, runs.get(i));
                    } catch (ProblemException e) {
                        placed(errors, i, e);
                    }
                }
                resolved.add(run);
            }
            if (!errors.isEmpty()) {
                errors.sort(java.util.Comparator.comparingInt(EnqueueService::placeOf));
                Problem.FieldError first = errors.get(0);
                throw ProblemException.invalid((errors.size() == 1 ? "A run of the batch is invalid"
                        : errors.size() + " errors in the batch") + "; nothing was queued. First: " + first.field()
                        + ": " + first.message(), errors.size() > 100 ? List.copyOf(errors.subList(0, 100)) : errors);
            }
            return queueBatch(queue.name(), runs, resolved);
        }));
    }

    /** Each distinct job of the batch, looked up once: its version, or the 404 problem it got. */
    private Uni<Map<JobRef, Object>> jobsOf(List<JobRef> refs) {
        List<JobRef> distinct = refs.stream().filter(java.util.Objects::nonNull).distinct().toList();
        if (distinct.isEmpty()) {
            return Uni.createFrom().item(Map.of());
        }
        List<Uni<Object>> lookups = distinct.stream().map(ref -> jobs.fetch(ref.name(), ref.version())
                .<Object>map(job -> job)
                .onFailure(e -> e instanceof ProblemException p && p.problem().status() == 404)
                .recoverWithItem(e -> e)).toList();
        return Uni.join().all(lookups).andFailFast().map(found -> {
            Map<JobRef, Object> byRef = new java.util.HashMap<>();
            for (int i = 0; i < distinct.size(); i++) {
                byRef.put(distinct.get(i), found.get(i));
            }
            return byRef;
        });
    }

    private Uni<BatchEnqueueResponse> queueBatch(String queue, List<EnqueueRequest> runs, List<RunRequest> resolved) {
        List<String> keys = runs.stream().map(EnqueueRequest::idempotencyKey).filter(java.util.Objects::nonNull).toList();
        return store.earlierAnswers(queue, keys).chain(earlier -> {
            List<RunRequest> fresh = new ArrayList<>();
            List<EnqueueStore.Row> claims = new ArrayList<>();
            for (int i = 0; i < runs.size(); i++) {
                String key = runs.get(i).idempotencyKey();
                if (key == null || !earlier.containsKey(key)) {
                    RunRequest run = resolved.get(i);
                    fresh.add(run);
                    if (key != null) {
                        claims.add(new EnqueueStore.Row(run.runId(), key, run.priority(), run.enqueuedAt(), null, "{}"));
                    }
                }
            }
            List<String> claimed = claims.stream().map(EnqueueStore.Row::runId).toList();
            return store.claimAll(queue, claims, STALE_CLAIM).chain(held -> {
                if (!held.isEmpty()) {
                    return store.withdrawAll(claimed).onFailure().recoverWithNull().map(v -> {
                        throw ProblemException.conflict("another enqueue with idempotencyKey '" + held.iterator().next()
                                + "' is in progress; nothing of this batch was queued. Retry the batch to get its runs");
                    });
                }
                Uni<List<EnqueueWriter.Written>> written = fresh.isEmpty() ? Uni.createFrom().item(List.of())
                        : writtenAll(fresh).onFailure().call(e -> store.withdrawAll(claimed).onFailure().recoverWithNull());
                return written.chain(offsets -> answers(queue, runs, earlier, fresh, offsets));
            });
        });
    }

    /** The batch's answers, in its order, once its new runs are queued; records the new runs here. */
    private Uni<BatchEnqueueResponse> answers(String queue, List<EnqueueRequest> runs, Map<String, String> earlier,
                                              List<RunRequest> fresh, List<EnqueueWriter.Written> written) {
        boolean levels = !fresh.isEmpty() && fresh.get(0).priority() != null;
        Uni<Map<Priority, Long>> nextToTake = fresh.isEmpty() ? Uni.createFrom().item(Map.of())
                : onThisContext(Uni.createFrom().completionStage(() -> positions.nextToTake(queue, levels)))
                .onFailure().recoverWithItem(() -> new java.util.HashMap<>());
        return nextToTake.chain(next -> {
            Uni<List<Long>> counted = io.smallrye.mutiny.Multi.createFrom().range(0, fresh.size()).onItem()
                    .transformToUniAndConcatenate(i -> positions.ahead(queue,
                            Priority.parse(fresh.get(i).priority()).orElse(null), written.get(i).itemOffset(), next))
                    .collect().asList();
            return counted.chain(ahead -> {
                List<EnqueueResponse> answers = new ArrayList<>(runs.size());
                List<EnqueueStore.Row> rows = new ArrayList<>(fresh.size());
                Map<Integer, Long> token = new java.util.TreeMap<>();
                int at = 0;
                for (EnqueueRequest request : runs) {
                    String key = request.idempotencyKey();
                    EnqueueResponse answer;
                    if (key != null && earlier.containsKey(key)) {
                        answer = replay(earlier.get(key));
                    } else {
                        RunRequest run = fresh.get(at);
                        EnqueueWriter.Written w = written.get(at);
                        answer = new EnqueueResponse(run.runId(), queue, run.jobRef(), "QUEUED", ahead.get(at),
                                w.consistencyToken());
                        rows.add(new EnqueueStore.Row(run.runId(), key, run.priority(), run.enqueuedAt(),
                                w.itemOffset(), Events.MAPPER.valueToTree(answer).toString()));
                        at++;
                    }
                    if (answer.consistencyToken() != null) {
                        ReadToken.merge(token, answer.consistencyToken());
                    }
                    answers.add(answer);
                }
                String consistency = token.isEmpty() ? null : token.entrySet().stream()
                        .map(e -> "runs:" + e.getKey() + ":" + e.getValue())
                        .collect(java.util.stream.Collectors.joining(","));
                BatchEnqueueResponse response = new BatchEnqueueResponse(queue, fresh.size(), answers, consistency);
                return store.recordAll(queue, rows).onFailure().recoverWithUni(e -> {
                    LOG.warnf("%d run(s) of a batch are queued, but their records here were not written: %s",
                            rows.size(), e.toString());
                    return Uni.createFrom().voidItem();
                }).replaceWith(response);
            });
        });
    }

    /** Tokens of earlier answers folded into a batch's token: the highest offset per partition. */
    private static final class ReadToken {
        static void merge(Map<Integer, Long> token, String consistencyToken) {
            for (String part : consistencyToken.split(",")) {
                String[] f = part.split(":");
                if (f.length == 3) {
                    token.merge(Integer.parseInt(f[1]), Long.parseLong(f[2]), Math::max);
                }
            }
        }
    }

    /** {@code e}'s errors, named by the run's place in the batch. */
    private static void placed(List<Problem.FieldError> errors, int index, ProblemException e) {
        List<Problem.FieldError> own = e.problem().errors();
        if (own == null || own.isEmpty()) {
            errors.add(new Problem.FieldError("runs[" + index + "]", e.problem().detail()));
        } else {
            own.forEach(f -> errors.add(new Problem.FieldError("runs[" + index + "]." + f.field(), f.message())));
        }
    }

    private static int placeOf(Problem.FieldError error) {
        int close = error.field().indexOf(']');
        return close < 0 ? -1 : Integer.parseInt(error.field().substring(5, close));
    }

    /** {@link #written} for runs queued together. */
    private Uni<List<EnqueueWriter.Written>> writtenAll(List<RunRequest> runs) {
        return onThisContext(Uni.createFrom().completionStage(() -> writer.writeAll(runs))).onFailure().transform(e -> {
            LOG.warnf("a batch of %d run(s) not queued: %s", runs.size(), e.toString());
            return ProblemException.unavailable("Kafka did not accept the batch; nothing of it was queued. Retry "
                    + "shortly (with the same idempotency keys to be safe).", 5);
        });
    }

    /**
     * Without an idempotency key: Kafka first (the run is durable, and accepted, once its transaction is
     * committed), then the record this service keeps of it, used to count positions. A failure to write that
     * record loses nothing: the run is queued; its position counts are off by one until it is taken.
     */
    private Uni<EnqueueResponse> persist(RunRequest run) {
        return written(run).chain(written -> position(run, written.itemOffset()).chain(position -> {
            long offset = written.itemOffset();
            EnqueueResponse response = new EnqueueResponse(run.runId(), run.queue(), run.jobRef(), "QUEUED", position,
                    written.consistencyToken());
            return store.insert(store.pool(), run.runId(), run.queue(), null, run.priority(), run.enqueuedAt(),
                            offset, Events.MAPPER.valueToTree(response).toString())
                    .onFailure().recoverWithUni(e -> {
                        RunLog.warnf(LOG, run.runId(), run.queue(), null,
                                "run %s is queued, but its record here was not written: %s", run.runId(),
                                e.toString());
                        return Uni.createFrom().voidItem();
                    })
                    .replaceWith(response);
        }));
    }

    /**
     * With an idempotency key: the key is claimed first (its record, committed at once: a second enqueue with
     * the same key fails here, before anything is published), then the run goes to Kafka, then its offset and
     * answer complete the record. No database connection is held while Kafka is written to (an outage must not
     * drain the pool). If Kafka did not take the run, the claim is withdrawn so a retry can go ahead; a claim
     * left behind by a crash is taken over after {@link #STALE_CLAIM}.
     */
    private Uni<EnqueueResponse> persistOnce(RunRequest run, String key) {
        return claim(run, key)
                .chain(() -> written(run).onFailure().call(e -> store.withdraw(run.runId())
                        .onFailure().recoverWithNull()))
                .chain(written -> position(run, written.itemOffset()).chain(position -> {
                    EnqueueResponse response = new EnqueueResponse(run.runId(), run.queue(), run.jobRef(), "QUEUED",
                            position, written.consistencyToken());
                    return store.complete(store.pool(), run.runId(), written.itemOffset(),
                                    Events.MAPPER.valueToTree(response).toString())
                            .onFailure().recoverWithUni(e -> {
                                RunLog.warnf(LOG, run.runId(), run.queue(), null,
                                        "run %s is queued, but its answer was not recorded for its key: %s",
                                        run.runId(), e.toString());
                                return Uni.createFrom().voidItem();
                            })
                            .replaceWith(response);
                }));
    }

    /** How long an unfinished claim of a key may stand before another enqueue takes it over. */
    static final java.time.Duration STALE_CLAIM = java.time.Duration.ofMinutes(2);

    private Uni<Void> claim(RunRequest run, String key) {
        return store.insert(store.pool(), run.runId(), run.queue(), key, run.priority(), run.enqueuedAt(), null, "{}")
                .onFailure(EnqueueService::uniqueViolation).recoverWithUni(e -> store.takeOverStaleClaim(run.queue(),
                        key, STALE_CLAIM).chain(tookOver -> {
                    if (!tookOver) {
                        throw ProblemException.conflict("another enqueue with idempotencyKey '" + key + "' is in "
                                + "progress; retry to get its run");
                    }
                    return store.insert(store.pool(), run.runId(), run.queue(), key, run.priority(), run.enqueuedAt(),
                            null, "{}");
                }));
    }

    private static boolean uniqueViolation(Throwable e) {
        return e instanceof io.vertx.pgclient.PgException pg && "23505".equals(pg.getSqlState());
    }

    /**
     * Where the run went once Kafka has committed it; a 503 problem when Kafka did not take it. Goes on on the
     * request's Vert.x context: the writer completes on its own thread, and a database connection held in a
     * transaction must not be used from it (a held connection was never released that way).
     */
    private Uni<EnqueueWriter.Written> written(RunRequest run) {
        return onThisContext(Uni.createFrom().completionStage(() -> writer.write(run))).onFailure().transform(e -> {
            RunLog.warnf(LOG, run.runId(), run.queue(), null, "run %s not queued: %s", run.runId(), e.toString());
            return ProblemException.unavailable("Kafka did not accept the run; nothing was queued. Retry shortly "
                    + "(with the same idempotencyKey to be safe).", 5);
        });
    }

    /** {@code uni}, going on on the caller's Vert.x context (if any) whatever thread completes it. */
    private static <T> Uni<T> onThisContext(Uni<T> uni) {
        io.vertx.core.Context context = io.vertx.core.Vertx.currentContext();
        return context == null ? uni : uni.emitOn(command -> context.runOnContext(v -> command.run()));
    }

    /** Runs ahead of it in its queue when accepted (0 when the agents' progress cannot be read now). */
    private Uni<Long> position(RunRequest run, long offset) {
        return onThisContext(Uni.createFrom().completionStage(() -> positions.nextToTake(run.queue(),
                        run.priority() != null)))
                .onFailure().recoverWithItem(() -> new java.util.HashMap<>())
                .chain(next -> positions.ahead(run.queue(), Priority.parse(run.priority()).orElse(null), offset, next));
    }

    private static EnqueueResponse replay(String previous) {
        try {
            return Events.MAPPER.readValue(previous, EnqueueResponse.class);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("a stored enqueue answer cannot be read", e);
        }
    }

    static RunRequest resolve(QueueChanged queue, JobVersion job, EnqueueRequest request) {
        List<Problem.FieldError> errors = new ArrayList<>();
        String targetType = queue.target().path("type").asText();
        if (!Targets.accepts(targetType, job.source().type())) {
            throw ProblemException.invalidField("job", "queue '" + queue.name() + "' launches on " + targetType
                    + ", which cannot run " + job.source().type() + " sources (job " + job.name() + ":"
                    + job.version() + "); it runs " + Targets.sourcesOf(targetType)
                    + " sources. " + Targets.sourcesHint(targetType));
        }
        if (queue.lockdown() && (request.entrypoint() != null || request.args() != null)) {
            throw ProblemException.invalidField(request.entrypoint() != null ? "entrypoint" : "args",
                    "queue '" + queue.name() + "' is locked down: entrypoint and args overrides are not allowed");
        }
        checkArgv("entrypoint", request.entrypoint(), errors);
        checkArgv("args", request.args(), errors);
        if (request.entrypoint() != null && request.entrypoint().isEmpty()) {
            errors.add(new Problem.FieldError("entrypoint", "must not be empty; leave it out to use the job's"));
        }
        ObjectNode inputs = resolveInputs(job, request.inputs(), errors);
        ObjectNode variables = resolveVariables(queue, request.templateVariables(), errors);
        if (request.priority() != null) {
            if (!queue.prioritization()) {
                errors.add(new Problem.FieldError("priority", "queue '" + queue.name()
                        + "' does not enable prioritization; leave priority out"));
            } else if (Priority.parse(request.priority()).isEmpty()) {
                errors.add(new Problem.FieldError("priority", "must be one of " + Priority.labels()));
            }
        }
        if (!errors.isEmpty()) {
            throw ProblemException.invalid(errors.size() == 1 ? errors.get(0).field() + ": " + errors.get(0).message()
                    : "The run has " + errors.size() + " invalid fields; see errors.", errors);
        }
        List<String> command = new ArrayList<>(request.entrypoint() != null ? request.entrypoint() : job.entrypoint());
        if (request.args() != null) {
            command.addAll(request.args());
        }
        ObjectNode target = queue.target().deepCopy();
        if (queue.config() != null) {
            Map<String, JsonNode> values = new java.util.HashMap<>();
            variables.fields().forEachRemaining(e -> values.put(e.getKey(), e.getValue()));
            JsonNode filled = ConfigTemplate.fillVariables(queue.config(), values);
            if (filled instanceof ObjectNode config) {
                // checked again as it will run: a variable's value may make a field refused or unreadable
                List<Problem.FieldError> refused = Targets.checkFilled(queue.target(), config);
                if (!refused.isEmpty()) {
                    throw ProblemException.invalid("the queue's config, filled with this run's template variables, "
                            + "is refused: " + refused.get(0).field() + ": " + refused.get(0).message(), refused);
                }
            }
            target.set("config", filled);
        }
        List<Problem.FieldError> refused = Targets.checkRun(targetType,
                target.get("config") instanceof ObjectNode c ? c : null, job.source(), inputs);
        if (!refused.isEmpty()) {
            throw ProblemException.invalid(refused.size() == 1 ? refused.get(0).field() + ": "
                    + refused.get(0).message() : "The run cannot launch on queue '" + queue.name() + "'; see errors.",
                    refused);
        }
        target.set("variables", variables);
        String priority = queue.prioritization() ? (request.priority() == null ? Priority.DEFAULT.label() : request.priority()) : null;
        return new RunRequest(RunIds.next(), queue.name(), job.name(), job.version(), job.digest(), job.source(),
                command, inputs, target, 1, queue.maxAttempts(), priority,
                Instant.now().truncatedTo(ChronoUnit.MICROS), null, queue.startTimeout());
    }

    private static void checkArgv(String field, List<String> argv, List<Problem.FieldError> errors) {
        if (argv == null) {
            return;
        }
        for (int i = 0; i < argv.size(); i++) {
            if (argv.get(i) == null) {
                errors.add(new Problem.FieldError(field + "[" + i + "]", "must be a string"));
            }
        }
    }

    static ObjectNode resolveInputs(JobVersion job, ObjectNode given, List<Problem.FieldError> errors) {
        ObjectNode merged = job.inputs() != null && job.inputs().defaults() != null
                ? job.inputs().defaults().deepCopy() : JsonNodeFactory.instance.objectNode();
        if (given != null) {
            overlay(merged, given);
        }
        if (job.inputs() != null && job.inputs().schema() != null) {
            errors.addAll(JsonSchemas.validate(job.inputs().schema(), merged, "inputs"));
        }
        return merged;
    }

    /** Objects merge key by key; anything else replaces. */
    static void overlay(ObjectNode base, ObjectNode over) {
        for (Iterator<Map.Entry<String, JsonNode>> it = over.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode existing = base.get(e.getKey());
            if (existing instanceof ObjectNode existingObject && e.getValue() instanceof ObjectNode overObject) {
                overlay(existingObject, overObject);
            } else {
                base.set(e.getKey(), e.getValue().deepCopy());
            }
        }
    }

    static ObjectNode resolveVariables(QueueChanged queue, ObjectNode given, List<Problem.FieldError> errors) {
        ObjectNode declared = queue.templateVariables() == null ? JsonNodeFactory.instance.objectNode()
                : queue.templateVariables();
        ObjectNode values = JsonNodeFactory.instance.objectNode();
        if (given != null) {
            for (Iterator<String> it = given.fieldNames(); it.hasNext(); ) {
                String name = it.next();
                if (!declared.has(name)) {
                    errors.add(new Problem.FieldError("templateVariables." + name, "queue '" + queue.name()
                            + "' declares no variable '" + name + "'; it declares " + iterableToList(declared)));
                }
            }
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = declared.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> var = it.next();
            String field = "templateVariables." + var.getKey();
            JsonNode value = given != null && given.has(var.getKey()) ? given.get(var.getKey())
                    : var.getValue().get("default");
            if (value == null) {
                errors.add(new Problem.FieldError(field, "required (no default): " + describe(var.getValue())));
                continue;
            }
            List<Problem.FieldError> invalid = JsonSchemas.validate(var.getValue().get("schema"), value, field);
            if (!invalid.isEmpty()) {
                errors.add(new Problem.FieldError(field, invalid.get(0).message() + "; allowed: "
                        + describe(var.getValue())));
            }
            values.set(var.getKey(), value);
        }
        return values;
    }

    private static List<String> iterableToList(ObjectNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    /** "integer from 0 to 4", "one of [a, b]" ... */
    static String describe(JsonNode variable) {
        JsonNode schema = variable.path("schema");
        StringBuilder s = new StringBuilder(schema.path("type").asText("value"));
        if (schema.has("enum")) {
            s.append(" one of ").append(schema.get("enum"));
        }
        if (schema.has("minimum")) {
            s.append(" from ").append(schema.get("minimum"));
        }
        if (schema.has("maximum")) {
            s.append(" up to ").append(schema.get("maximum"));
        }
        return s.toString();
    }

    /** {@code name} (latest), {@code name:version} or {@code name:alias}. */
    record JobRef(String name, String version) {
        static JobRef parse(String ref) {
            if (ref == null || ref.isBlank()) {
                throw ProblemException.invalidField("job", "required: \"name\", \"name:version\" or \"name:alias\"");
            }
            int colon = ref.indexOf(':');
            String name = colon < 0 ? ref : ref.substring(0, colon);
            Names.require("job", name);
            if (colon < 0) {
                return new JobRef(name, null);
            }
            String version = ref.substring(colon + 1);
            boolean number = !version.isEmpty() && version.length() < 10 && version.chars().allMatch(Character::isDigit)
                    && Integer.parseInt(version) > 0;
            if (!number && !Names.isValid(version)) {
                throw ProblemException.invalidField("job", "'" + version + "' is neither a version number nor an "
                        + "alias; give \"name\" for the latest version, \"name:3\" or \"name:prod\"");
            }
            return new JobRef(name, version);
        }
    }
}
