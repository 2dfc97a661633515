package dev.launch.queue.messaging;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunRequest;
import dev.launch.common.event.Topics;
import dev.launch.messaging.RunLog;
import dev.launch.messaging.TraceHeaders;
import dev.launch.messaging.Tracing;
import dev.launch.messaging.TransactionalProducers;
import dev.launch.common.run.Priority;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Context;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Makes enqueued runs durable. Each run is two records: the item on {@code launch.queue.<name>}, or on its
 * level's topic on a queue with priorities (what agents take), and {@code RunQueued} on {@code launch.runs} (what the status service shows). Both go in one Kafka
 * transaction, so no run is ever queued without being visible, or visible without being queued; readers use
 * {@code isolation.level=read_committed}. A single writer thread batches whatever requests are waiting into
 * one transaction, so throughput does not pay one commit per run. With tracing on, each run's write is a
 * {@code PRODUCER} span in the trace of the request that enqueued it; both records carry it in their headers and
 * the item names it in {@code traceParent}, so the run's later spans (agent, status service) join that trace.
 */
@ApplicationScoped
public class EnqueueWriter {
    private static final Logger LOG = Logger.getLogger(EnqueueWriter.class);

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;
    @ConfigProperty(name = "launch.enqueue.delivery-timeout")
    Duration deliveryTimeout;
    @ConfigProperty(name = "launch.enqueue.max-batch")
    int maxBatch;
    @ConfigProperty(name = "launch.enqueue.fail-fast-after", defaultValue = "5s")
    Duration failFastAfter;
    @jakarta.inject.Inject
    QueuePositions positions;
    @jakarta.inject.Inject
    Tracing tracing;

    private final LinkedBlockingQueue<Pending> pending = new LinkedBlockingQueue<>();
    private volatile boolean running = true;
    private final java.util.concurrent.atomic.AtomicInteger lostCommitAnswers =
            new java.util.concurrent.atomic.AtomicInteger();
    private Thread thread;
    private KafkaProducer<String, String> producer;
    @ConfigProperty(name = "launch.enqueue.transactional-id")
    java.util.Optional<String> configuredId;
    @ConfigProperty(name = "quarkus.http.port")
    int port;
    private String transactionalId;
    /** when the batch being written started (nanoTime), or 0 while the writer waits for work */
    private volatile long batchStarted;

    /** Runs that go in one transaction together (one enqueue, or a batch enqueue's runs), and their answer. */
    private record Pending(List<RunRequest> requests, Context trace, CompletableFuture<List<Written>> written) {
    }

    /**
     * Where a committed enqueue went: the item's offset in its queue topic, and the partition and offset of its
     * {@code RunQueued} on {@code launch.runs}, which the status service waits for when a client sends the
     * consistency token (ADR 0004).
     */
    public record Written(long itemOffset, int factPartition, long factOffset) {
        /** The opaque token of the 202: {@code runs:<partition>:<offset>}. */
        public String consistencyToken() {
            return "runs:" + factPartition + ":" + factOffset;
        }
    }

    void start(@Observes StartupEvent event) {
        transactionalId = TransactionalProducers.stableId("launch-queue-service", configuredId, port);
        LOG.infof("enqueue writer transactional id: %s", transactionalId);
        thread = new Thread(this::loop, "enqueue-writer");
        thread.setDaemon(true);
        thread.start();
    }

    void stop(@Observes ShutdownEvent event) {
        running = false;
        thread.interrupt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        closeProducer();
        Pending p;
        while ((p = pending.poll()) != null) {
            p.written().completeExceptionally(new IllegalStateException("queue service is shutting down"));
        }
    }

    /**
     * Completes with the item's offset in its queue topic once the transaction is committed. While the batch
     * being written has been stuck for {@code launch.enqueue.fail-fast-after} (Kafka away), a new request fails
     * at once instead of waiting behind it: requests hold a database connection while they wait, and a pile of
     * them would starve the service. The stuck batch keeps trying and is the probe: once it gets through, new
     * requests are taken again.
     */
    public CompletionStage<Written> write(RunRequest request) {
        return writeAll(List.of(request)).thenApply(written -> written.get(0));
    }

    /**
     * {@link #write}, for runs that are queued together or not at all: they go in one transaction (with other
     * requests' runs, never split), and the answer lists where each went, in their order.
     */
    public CompletionStage<List<Written>> writeAll(List<RunRequest> requests) {
        CompletableFuture<List<Written>> written = new CompletableFuture<>();
        long started = batchStarted;
        if (!running) {
            written.completeExceptionally(new IllegalStateException("queue service is shutting down"));
        } else if (started != 0 && System.nanoTime() - started > failFastAfter.toNanos()) {
            written.completeExceptionally(new KafkaUnavailableException("Kafka has not taken the runs being written "
                    + "for " + Duration.ofNanos(System.nanoTime() - started).toSeconds() + " s"));
        } else {
            pending.add(new Pending(List.copyOf(requests), Context.current(), written));
        }
        return written;
    }

    private void loop() {
        try {
            producer(); // at once: fences a crashed predecessor with the same id, settling what it left open
        } catch (RuntimeException e) {
            LOG.warnf("the enqueue writer's producer is not ready yet (%s); the first enqueue tries again",
                    e.toString());
            closeProducer();
        }
        while (running) {
            List<Pending> groups = new ArrayList<>();
            try {
                groups.add(pending.take());
            } catch (InterruptedException e) {
                return;
            }
            // more waiting requests, up to max-batch runs (a batch enqueue larger than that goes alone, whole)
            int runs = groups.get(0).requests().size();
            Pending next;
            while (runs < maxBatch && (next = pending.peek()) != null && runs + next.requests().size() <= maxBatch) {
                groups.add(pending.poll());
                runs += next.requests().size();
            }
            List<RunRequest> batch = new ArrayList<>(runs);
            List<Span> spans = new ArrayList<>(runs);
            for (Pending group : groups) {
                for (RunRequest r : group.requests()) {
                    Span span = writeSpan(r, group.trace());
                    spans.add(span);
                    batch.add(r.withTraceParent(TraceHeaders.traceParent(Context.root().with(span))));
                }
            }
            batchStarted = System.nanoTime();
            try {
                List<Written> written = commit(batch);
                for (int i = 0; i < spans.size(); i++) {
                    spans.get(i).setAttribute("messaging.kafka.offset", written.get(i).itemOffset()).end();
                }
                int at = 0;
                for (Pending group : groups) {
                    List<Written> own = written.subList(at, at + group.requests().size());
                    for (int i = 0; i < own.size(); i++) {
                        // known to positions before its answer is computed (an earlier item of the batch counts)
                        RunRequest r = group.requests().get(i);
                        positions.accepted(r.queue(), Priority.parse(r.priority()).orElse(null), own.get(i).itemOffset());
                    }
                    at += own.size();
                    group.written().complete(List.copyOf(own));
                }
            } catch (Exception e) {
                LOG.warnf("enqueue transaction of %d run(s) failed: %s", batch.size(), e.toString());
                for (Span span : spans) {
                    span.recordException(e).setStatus(StatusCode.ERROR, "not queued").end();
                }
                groups.forEach(g -> g.written().completeExceptionally(e));
            } finally {
                batchStarted = 0;
            }
        }
    }

    /** The span of one run's write, in the trace of the request that enqueued it. */
    private Span writeSpan(RunRequest r, Context parent) {
        String topic = Topics.queueItems(r.queue(), Priority.parse(r.priority()).orElse(null));
        return tracing.tracer().spanBuilder("publish " + topic).setParent(parent).setSpanKind(SpanKind.PRODUCER)
                .setAttribute("messaging.system", "kafka")
                .setAttribute("messaging.destination.name", topic)
                .setAttribute("launch.run.id", r.runId())
                .setAttribute("launch.queue", r.queue())
                .setAttribute("launch.job", r.jobRef())
                .startSpan();
    }

    /**
     * One transaction for the batch. A failure while sending aborts it (nothing of it is visible) and the batch is
     * tried again until the delivery timeout. A failed commit is never aborted, since it may have taken effect:
     * a commit that timed out is retried; after the deadline its outcome is settled and read ({@link #settled}).
     */
    private List<Written> commit(List<RunRequest> batch) throws Exception {
        long deadline = System.nanoTime() + deliveryTimeout.toNanos();
        while (true) {
            KafkaProducer<String, String> p = producer();
            List<Written> offsets;
            try {
                offsets = send(p, batch);
            } catch (ProducerFencedException | OutOfOrderSequenceException | AuthorizationException fatal) {
                closeProducer();
                throw fatal;
            } catch (InterruptedException e) {
                abort(p);
                throw e;
            } catch (Exception e) {
                abort(p);
                if (System.nanoTime() < deadline) {
                    LOG.infof("enqueue transaction of %d run(s) aborted (%s); trying again", batch.size(), e.toString());
                    continue;
                }
                throw e;
            }
            while (true) {
                boolean injected = false;
                try {
                    p.commitTransaction();
                    if (lostCommitAnswers.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                        injected = true;
                        throw new org.apache.kafka.common.errors.TimeoutException("fault injected: the answer to "
                                + "a commit that took effect was lost");
                    }
                    return offsets;
                } catch (org.apache.kafka.common.errors.TimeoutException e) {
                    if (!injected && System.nanoTime() < deadline) {
                        continue;
                    }
                    return settled(offsets, batch, e);
                } catch (org.apache.kafka.common.errors.TransactionAbortableException e) {
                    abort(p);
                    if (System.nanoTime() < deadline) {
                        break; // aborted: nothing of it is visible; send the batch again
                    }
                    throw e;
                } catch (KafkaException e) {
                    closeProducer();
                    throw e;
                }
            }
        }
    }

    /**
     * A commit whose outcome is unknown (it timed out: it may have taken effect): a new producer with the same
     * transactional id settles it (the coordinator completes a commit it had logged, aborts anything else), then
     * the batch's first item is looked for at its offset with read_committed: there, the batch is queued and
     * answered 202; skipped (aborted), or not to be found, the batch fails (503, nothing queued). So a 503 never
     * hides a queued run, and a retry with the same idempotency key cannot queue it twice.
     */
    private List<Written> settled(List<Written> written, List<RunRequest> batch, Exception unknown) throws Exception {
        closeProducer();
        try {
            producer();
        } catch (RuntimeException e) {
            closeProducer();
            throw unknown;
        }
        RunRequest first = batch.get(0);
        long offset = written.get(0).itemOffset();
        TopicPartition partition = new TopicPartition(Topics.queueItems(first.queue(),
                Priority.parse(first.priority()).orElse(null)), 0);
        Map<String, Object> config = new HashMap<>();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 1);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        long until = System.nanoTime() + deliveryTimeout.toNanos();
        Boolean landed = null;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            consumer.assign(List.of(partition));
            consumer.seek(partition, offset);
            while (landed == null && System.nanoTime() < until) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(200))) {
                    landed = record.offset() == offset && first.runId().equals(record.key());
                }
                if (landed == null && consumer.position(partition) > offset) {
                    landed = false; // skipped: aborted
                }
            }
        } catch (KafkaException e) {
            LOG.warnf("the outcome of a timed-out commit cannot be read (%s)", e.toString());
        }
        if (Boolean.TRUE.equals(landed)) {
            LOG.infof("the commit of %d run(s) timed out but took effect: answered as queued", batch.size());
            return written;
        }
        LOG.infof("the commit of %d run(s) timed out and %s: answered 503", batch.size(),
                landed == null ? "its outcome cannot be read" : "did not take effect (nothing was queued)");
        throw unknown;
    }

    /** For fault tests: the answers of the next {@code commits} commits that take effect are lost (timed out). */
    public void loseCommitAnswers(int commits) {
        lostCommitAnswers.set(commits);
    }

    private List<Written> send(KafkaProducer<String, String> p, List<RunRequest> batch) throws Exception {
        p.beginTransaction();
        List<Future<RecordMetadata>> items = new ArrayList<>(batch.size());
        for (RunRequest r : batch) {
            Priority level = Priority.parse(r.priority()).orElse(null);
            ProducerRecord<String, String> item = new ProducerRecord<>(Topics.queueItems(r.queue(), level), r.runId(),
                    Events.encode(EventEnvelope.of(EventTypes.RUN_REQUESTED, r.runId(), r)));
            TraceHeaders.inject(TraceHeaders.fromTraceParent(r.traceParent()), item.headers());
            items.add(p.send(item));
        }
        List<Long> offsets = new ArrayList<>(batch.size());
        List<Future<RecordMetadata>> facts = new ArrayList<>(batch.size());
        for (int i = 0; i < batch.size(); i++) {
            long offset = items.get(i).get(deliveryTimeout.toMillis(), TimeUnit.MILLISECONDS).offset();
            offsets.add(offset);
            RunRequest r = batch.get(i);
            RunLifecycle queued = RunLifecycle.queued(r, offset);
            ProducerRecord<String, String> fact = new ProducerRecord<>(Topics.RUNS, r.runId(),
                    Events.encode(EventEnvelope.of(EventTypes.RUN_QUEUED, r.runId(), queued)));
            TraceHeaders.inject(TraceHeaders.fromTraceParent(r.traceParent()), fact.headers());
            facts.add(p.send(fact));
        }
        // every RunQueued acknowledged before the commit, not only flushed by it: the fault tests once found a
        // committed item whose RunQueued was in no partition of launch.runs (a run the read model never saw);
        // a send that did not land now fails the batch (aborted, tried again) instead of committing without it
        List<Written> written = new ArrayList<>(batch.size());
        for (int i = 0; i < facts.size(); i++) {
            try {
                RecordMetadata fact = facts.get(i).get(deliveryTimeout.toMillis(), TimeUnit.MILLISECONDS);
                written.add(new Written(offsets.get(i), fact.partition(), fact.offset()));
            } catch (java.util.concurrent.ExecutionException e) {
                RunLog.warnf(LOG, batch.get(i).runId(), batch.get(i).queue(), null,
                        "the RunQueued of run %s was not written (%s); the batch is aborted",
                        batch.get(i).runId(), e.getCause());
                throw e;
            }
        }
        return written;
    }

    private void abort(KafkaProducer<String, String> p) {
        try {
            p.abortTransaction();
        } catch (KafkaException abortFailed) {
            closeProducer();
        }
    }

    /** Kafka is not taking writes: the request was not tried. */
    public static final class KafkaUnavailableException extends RuntimeException {
        KafkaUnavailableException(String message) {
            super(message, null, false, false);
        }
    }

    private KafkaProducer<String, String> producer() {
        if (producer == null) {
            producer = TransactionalProducers.open(bootstrap, transactionalId, deliveryTimeout);
        }
        return producer;
    }

    private void closeProducer() {
        producer = TransactionalProducers.close(producer);
    }
}
