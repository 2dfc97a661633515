package dev.launch.status.messaging;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Events;
import dev.launch.common.event.MoveRun;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunRequest;
import dev.launch.common.event.Topics;
import dev.launch.messaging.RunLog;
import dev.launch.messaging.TransactionalProducers;
import dev.launch.common.naming.RunIds;
import dev.launch.common.run.Priority;
import dev.launch.messaging.RunCommandsReader;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Reprioritizes queued runs. A move is one Kafka transaction of three records: the run's new item at the tail
 * of its new level, the {@code MoveRun} command (old item → new item), and the {@code RunReprioritized} fact.
 * Whether it took effect is decided by the order of the run's records on {@code launch.run-commands}: it did if
 * no agent took the old item first (see {@link dev.launch.messaging.RunCommandLedger}). This service reads
 * that topic itself ({@link RunCommandsReader}) to answer the request and to apply the fact to the read model
 * only when the move held; agents reach the same verdict from the same records, so the run is launched once.
 */
@ApplicationScoped
public class RunMoves {
    private static final Logger LOG = Logger.getLogger(RunMoves.class);

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;
    @jakarta.inject.Inject
    dev.launch.status.repository.LaunchRecords launches;

    private RunCommandsReader commands;
    private KafkaProducer<String, String> producer;
    @ConfigProperty(name = "launch.moves.transactional-id")
    java.util.Optional<String> configuredId;
    @ConfigProperty(name = "quarkus.http.port")
    int port;
    private String transactionalId;
    private Admin admin;
    private final ExecutorService writer = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "run-mover");
        t.setDaemon(true);
        return t;
    });

    /** How a move ended. */
    public record Outcome(boolean moved, RunRequest item) {
    }

    void start(@Observes StartupEvent event) {
        transactionalId = TransactionalProducers.stableId("launch-status-moves", configuredId, port);
        LOG.infof("move writer transactional id: %s", transactionalId);
        writer.execute(() -> {
            try {
                producer(); // at once: fences a crashed predecessor with the same id, settling what it left open
            } catch (RuntimeException e) {
                LOG.warnf("the move writer's producer is not ready yet (%s); the first move tries again",
                        e.toString());
                closeProducer();
            }
        });
        commands = new RunCommandsReader(bootstrap, "launch-status", stop -> { }).onLaunch(launches::record);
        commands.start();
    }

    void stop(@Observes ShutdownEvent event) {
        writer.shutdownNow();
        if (commands != null) {
            commands.close();
        }
        closeProducer();
        if (admin != null) {
            admin.close(Duration.ofSeconds(2));
        }
    }

    /** Moves {@code queued} (the run's current item) to the tail of {@code level}. */
    public Uni<Outcome> move(RunRequest queued, Priority level, String previous) {
        RunRequest moved = queued.movedTo(level.label(), RunIds.next());
        return settle(queued, moved, new MoveRun(moved.runId(), moved.queue(), queued.item(), moved.item(),
                level.label(), "api"), EventTypes.RUN_REPRIORITIZED, RunLifecycle.reprioritized(moved, 0,
                "priority " + previous + " -> " + level.label()));
    }

    /**
     * Hands back to its queue (at the tail of its level) a run that {@code lostAgent} took but, as far as the
     * read model knows, never started: held only if no {@code RunLaunching} of its item came first.
     */
    public Uni<Outcome> release(RunRequest queued, String lostAgent) {
        RunRequest moved = queued.movedTo(queued.priority(), RunIds.next());
        String reason = "agent " + lostAgent + " was lost before it started the run; back in the queue";
        return settle(queued, moved, new MoveRun(moved.runId(), moved.queue(), queued.item(), moved.item(),
                moved.priority(), "status-service", lostAgent), EventTypes.RUN_REQUEUED,
                RunLifecycle.reprioritized(moved, 0, reason).withAgent(null, queued.attempt()));
    }

    /**
     * Queues again, as its next attempt at the tail of its level, a run {@code lostAgent} had started: held if
     * its item is still live (not moved, handed back or retried already). An agent still holding the old item
     * abandons it when it reads the record.
     */
    public Uni<Outcome> retry(RunRequest started, String lostAgent, String why) {
        int next = started.attempt() + 1;
        RunRequest retried = started.movedTo(started.priority(), RunIds.next()).withAttempt(next);
        String reason = why + "; retrying: attempt " + next + " of " + started.maxAttempts();
        return settle(started, retried, new MoveRun(retried.runId(), retried.queue(), started.item(), retried.item(),
                retried.priority(), "status-service", lostAgent, next), EventTypes.RUN_REQUEUED,
                RunLifecycle.reprioritized(retried, 0, reason).withAgent(null, next));
    }

    /** Writes the move, reads up to it, and says whether it held. */
    private Uni<Outcome> settle(RunRequest queued, RunRequest moved, MoveRun command, String factType,
                                RunLifecycle fact) {
        return Uni.createFrom().item(() -> write(moved, command, factType, fact)).runSubscriptionOn(writer)
                .chain(at -> Uni.createFrom().completionStage(commands.fence(at.partition(), at.offset())))
                .map(done -> new Outcome(commands.ledger().moveOutcome(moved.runId(), moved.item())
                        .orElse(false), moved));
    }

    /**
     * Whether the move to {@code toItem} held, once this service has read its {@code MoveRun} (it is committed
     * in the same transaction as the fact being applied, so it arrives; an empty answer means not yet).
     */
    public Optional<Boolean> outcome(String runId, String toItem) {
        return commands.ledger().moveOutcome(runId, toItem);
    }

    /** Whether an agent recorded that it was starting {@code itemId} (as far as this service has read). */
    public boolean launching(String runId, String itemId) {
        return commands.ledger().launching(runId, itemId);
    }

    /** The agent that took {@code itemId} first (as far as this service has read), or null. */
    public String takenBy(String runId, String itemId) {
        return commands.ledger().takenBy(runId, itemId);
    }

    /** The agent that owns {@code itemId}'s work (its taker or last adopter, as far as this service has read). */
    public String owner(String runId, String itemId) {
        return commands.ledger().owner(runId, itemId);
    }

    /** The launch record of {@code itemId} (its handle, whether its work outlives its agent), or null. */
    public dev.launch.common.event.RunTaken launchRecord(String runId, String itemId) {
        return commands.ledger().launchRecord(runId, itemId);
    }

    /** Where a {@code MoveRun} record was written. */
    private record Written(TopicPartition partition, long offset) {
    }

    /**
     * Writes the transaction (on the writer thread): the new item, the command, and the fact with the item's
     * offset; returns where the command lies.
     */
    private Written write(RunRequest moved, MoveRun move, String factType, RunLifecycle fact) {
        KafkaProducer<String, String> p = producer();
        TopicPartition itemAt;
        long itemOffset;
        Written written;
        try {
            p.beginTransaction();
            Priority level = Priority.parse(moved.priority()).orElse(null);
            RecordMetadata item = p.send(new ProducerRecord<>(Topics.queueItems(moved.queue(), level), moved.runId(),
                    Events.encode(EventEnvelope.of(EventTypes.RUN_REQUESTED, moved.runId(), moved))))
                    .get(30, TimeUnit.SECONDS);
            RecordMetadata command = p.send(new ProducerRecord<>(Topics.RUN_COMMANDS, moved.runId(),
                    Events.encode(EventEnvelope.of(EventTypes.MOVE_RUN, moved.runId(), move))))
                    .get(30, TimeUnit.SECONDS);
            p.send(new ProducerRecord<>(Topics.RUNS, moved.runId(), Events.encode(EventEnvelope.of(
                    factType, moved.runId(), fact.withQueueOffset(item.offset()))))).get(30, TimeUnit.SECONDS);
            p.commitTransaction();
            itemAt = new TopicPartition(item.topic(), item.partition());
            itemOffset = item.offset();
            written = new Written(new TopicPartition(command.topic(), command.partition()), command.offset());
        } catch (Exception e) {
            try {
                p.abortTransaction();
            } catch (KafkaException abortFailed) {
                closeProducer();
            }
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            RunLog.warnf(LOG, moved.runId(), moved.queue(), null,
                    "moving run %s failed: %s", moved.runId(), e.toString());
            throw new IllegalStateException("Kafka did not take the move: " + e.getMessage(), e);
        }
        try {
            awaitVisible(itemAt, itemOffset);
        } catch (Exception e) {
            RunLog.warnf(LOG, moved.runId(), moved.queue(), null,
                    "could not check that the moved item of run %s is visible: %s", moved.runId(), e.toString());
        }
        return written;
    }

    /**
     * Waits (bounded) until agents reading {@code read_committed} can see the new item: a commit returns before
     * the coordinator has written its marker to every partition, and the answer should mean "now first in its
     * level" to anyone who asks after it.
     */
    private void awaitVisible(TopicPartition partition, long offset) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < deadline) {
            long stable = admin().listOffsets(Map.of(partition, OffsetSpec.latest()),
                            new ListOffsetsOptions(IsolationLevel.READ_COMMITTED))
                    .partitionResult(partition).get(5, TimeUnit.SECONDS).offset();
            if (stable > offset) {
                return;
            }
            Thread.sleep(2);
        }
        LOG.warnf("the moved item at %s@%d is not visible after 5 s; answering anyway", partition, offset);
    }

    private Admin admin() {
        if (admin == null) {
            admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                    AdminClientConfig.CLIENT_ID_CONFIG, "launch-status-moves"));
        }
        return admin;
    }

    private KafkaProducer<String, String> producer() {
        if (producer == null) {
            producer = TransactionalProducers.open(bootstrap, transactionalId, Duration.ofSeconds(30));
        }
        return producer;
    }

    private void closeProducer() {
        producer = TransactionalProducers.close(producer);
    }
}
