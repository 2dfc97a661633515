package dev.launch.queue.client;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.JobVersionCreated;
import dev.launch.common.event.Topics;
import dev.launch.common.job.JobVersion;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

/**
 * Job versions as the enqueue path needs them, without asking the job service for every run.
 * <ul>
 *   <li>{@code name:N} never changes once the job service has it: kept (the last {@code launch.job-cache.size}
 *       used), filled only from the job service's own answers.</li>
 *   <li>{@code name} (the latest) is answered from the cache when {@code launch.jobs} — where the job service
 *       writes every new version, acknowledged, before it answers its 201 — has been read here up to its end as it
 *       was after the request arrived: a read barrier (one end-offsets request for every enqueue waiting at the
 *       time), so an enqueue sent after a job's 201 always gets that version, never the one before.</li>
 *   <li>{@code name:alias} moves without a record on {@code launch.jobs}: always asked, and the version it names
 *       kept.</li>
 * </ul>
 * While {@code launch.jobs} cannot be read (or has not been read to its end since the start), everything is asked.
 */
@ApplicationScoped
public class JobVersions {
    private static final Logger LOG = Logger.getLogger(JobVersions.class);
    private static final Duration BARRIER_TIMEOUT = Duration.ofSeconds(2);

    @Inject
    JobClient client;
    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;
    @ConfigProperty(name = "launch.job-cache.size", defaultValue = "10000")
    int size;

    private final Map<String, Integer> latest = new ConcurrentHashMap<>();
    private Map<String, JobVersion> exact;
    private final ConcurrentLinkedQueue<CompletableFuture<Boolean>> waiting = new ConcurrentLinkedQueue<>();
    private volatile boolean caughtUp;
    private volatile boolean running = true;
    private volatile boolean heldBack;
    private Thread thread;
    private volatile KafkaConsumer<String, String> consumer;
    /** only asked for end offsets, on the feed's thread */
    private KafkaConsumer<String, String> ends;
    private final Counter hits;
    private final Counter asked;

    @Inject
    JobVersions(MeterRegistry metrics) {
        hits = Counter.builder("launch_queue_job_lookups_total").tag("answered", "cache")
                .description("job versions looked up at enqueue, by where the answer came from").register(metrics);
        asked = Counter.builder("launch_queue_job_lookups_total").tag("answered", "job-service")
                .description("job versions looked up at enqueue, by where the answer came from").register(metrics);
    }

    void start(@Observes StartupEvent event) {
        int capacity = Math.max(1, size);
        exact = java.util.Collections.synchronizedMap(new LinkedHashMap<>(256, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, JobVersion> eldest) {
                return size() > capacity;
            }
        });
        thread = new Thread(this::loop, "job-versions-feed");
        thread.setDaemon(true);
        thread.start();
    }

    void stop(@Observes ShutdownEvent event) {
        running = false;
        if (consumer != null) {
            consumer.wakeup();
        }
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        failWaiting();
    }

    /** The job version {@code name:version} (a number or an alias), or the latest when {@code version} is null. */
    public Uni<JobVersion> fetch(String name, String version) {
        if (version != null && version.chars().allMatch(Character::isDigit)) {
            JobVersion known = exact.get(name + ":" + Integer.parseInt(version));
            if (known != null) {
                hits.increment();
                return Uni.createFrom().item(known);
            }
            return ask(name, version);
        }
        if (version != null || !caughtUp) {
            return ask(name, version);
        }
        io.vertx.core.Context context = io.vertx.core.Vertx.currentContext();
        Uni<Boolean> fresh = Uni.createFrom().completionStage(this::barrier);
        if (context != null) {
            fresh = fresh.emitOn(command -> context.runOnContext(v -> command.run()));
        }
        return fresh.chain(ok -> {
            Integer v = ok ? latest.get(name) : null;
            JobVersion known = v == null ? null : exact.get(name + ":" + v);
            if (known != null) {
                hits.increment();
                return Uni.createFrom().item(known);
            }
            return ask(name, null);
        });
    }

    private Uni<JobVersion> ask(String name, String version) {
        asked.increment();
        return client.fetch(name, version).invoke(job -> exact.put(job.name() + ":" + job.version(), job));
    }

    /** True once {@code launch.jobs} has been read up to its end as it is now; false when it cannot be. */
    private CompletableFuture<Boolean> barrier() {
        CompletableFuture<Boolean> done = new CompletableFuture<>();
        waiting.add(done);
        KafkaConsumer<String, String> c = consumer;
        if (c != null) {
            c.wakeup();
        }
        java.util.concurrent.locks.LockSupport.unpark(thread);
        return done.completeOnTimeout(false, BARRIER_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** For tests: the feed reads {@code launch.jobs} only when a barrier asks, as a feed fallen behind would. */
    public void holdBack(boolean held) {
        heldBack = held;
        KafkaConsumer<String, String> c = consumer;
        if (c != null) {
            c.wakeup(); // out of a poll under way
        }
        java.util.concurrent.locks.LockSupport.unpark(thread);
    }

    private KafkaConsumer<String, String> newConsumer(String role) {
        return new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ConsumerConfig.CLIENT_ID_CONFIG, "queue-service-job-versions-" + role,
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class,
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class));
    }

    private void loop() {
        while (running) {
            try {
                consumer = newConsumer("feed");
                // end offsets are asked on a connection of their own: on the feed's, the broker would answer them
                // only after the fetch waiting there (up to fetch.max.wait.ms)
                ends = newConsumer("ends");
                read(consumer);
            } catch (WakeupException e) {
                // shutting down
            } catch (KafkaException e) {
                caughtUp = false;
                failWaiting();
                LOG.warnf("launch.jobs cannot be read (%s); enqueues ask the job service for every job until it can",
                        e.toString());
                pause(Duration.ofSeconds(2));
            } finally {
                for (KafkaConsumer<String, String> c : java.util.Arrays.asList(consumer, ends)) {
                    if (c != null) {
                        try {
                            c.close(Duration.ofSeconds(1));
                        } catch (RuntimeException ignored) {
                            // closing anyway
                        }
                    }
                }
                consumer = null;
                ends = null;
            }
        }
    }

    private void read(KafkaConsumer<String, String> c) {
        List<PartitionInfo> partitions = c.partitionsFor(Topics.JOBS, Duration.ofSeconds(10));
        if (partitions == null || partitions.isEmpty()) {
            pause(Duration.ofMillis(500)); // not created yet (every service creates it at its start)
            return;
        }
        List<TopicPartition> assigned = new ArrayList<>();
        partitions.forEach(p -> assigned.add(new TopicPartition(p.topic(), p.partition())));
        c.assign(assigned);
        c.seekToBeginning(assigned);
        // assigned, never polled: the client warns on every end-offsets answer for partitions it is not assigned
        ends.assign(assigned);
        catchUp(c, assigned);
        caughtUp = true;
        while (running) {
            List<CompletableFuture<Boolean>> now = new ArrayList<>();
            CompletableFuture<Boolean> next;
            while ((next = waiting.poll()) != null) {
                now.add(next);
            }
            if (!now.isEmpty()) {
                catchUp(c, assigned);
                now.forEach(w -> w.complete(true));
                continue;
            }
            if (heldBack) {
                java.util.concurrent.locks.LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(200));
                continue;
            }
            try {
                apply(c.poll(Duration.ofMillis(500)));
            } catch (WakeupException e) {
                if (!running) {
                    throw e;
                } // else a barrier is waiting: served at the top of the loop
            }
        }
    }

    /** Reads until every partition is at its end offset as asked for now. */
    private void catchUp(KafkaConsumer<String, String> c, List<TopicPartition> assigned) {
        Map<TopicPartition, Long> ends = this.ends.endOffsets(assigned, Duration.ofSeconds(5));
        while (running) {
            boolean behind = false;
            for (TopicPartition tp : assigned) {
                behind |= unwoken(() -> c.position(tp)) < ends.get(tp);
            }
            if (!behind) {
                return;
            }
            apply(unwoken(() -> c.poll(Duration.ofMillis(100))));
        }
    }

    /** {@code call}, again when a new barrier woke the consumer in it (a wake-up only stops it at shutdown). */
    private <T> T unwoken(java.util.function.Supplier<T> call) {
        while (true) {
            try {
                return call.get();
            } catch (WakeupException e) {
                if (!running) {
                    throw e;
                }
            }
        }
    }

    private void apply(Iterable<ConsumerRecord<String, String>> records) {
        for (ConsumerRecord<String, String> record : records) {
            try {
                EventEnvelope envelope = Events.decode(record.value());
                if (EventTypes.JOB_VERSION_CREATED.equals(envelope.type())) {
                    JobVersion job = Events.MAPPER.treeToValue(envelope.payload(), JobVersionCreated.class).job();
                    latest.merge(job.name(), job.version(), Math::max);
                }
            } catch (Exception e) {
                LOG.debugf("a record of launch.jobs at %d cannot be read (%s); skipped", record.offset(), e.toString());
            }
        }
    }

    private void failWaiting() {
        CompletableFuture<Boolean> w;
        while ((w = waiting.poll()) != null) {
            w.complete(false);
        }
    }

    private static void pause(Duration duration) {
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
