package dev.launch.agent.dispatch;

import dev.launch.agent.config.AgentConfig;
import dev.launch.agent.config.AgentIdentity;
import dev.launch.agent.messaging.EventPublisher;
import dev.launch.agent.messaging.RunTraces;
import dev.launch.agent.supervise.RunSupervisor;
import dev.launch.common.event.AgentStatus;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.Topics;
import dev.launch.messaging.RunCommandsReader;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/** The agent's life: start dispatching its queues, heartbeat, and on shutdown stop its runs and say goodbye. */
@ApplicationScoped
public class Agent {
    private static final Logger LOG = Logger.getLogger(Agent.class);

    @Inject
    AgentIdentity identity;
    @Inject
    AgentConfig config;
    @Inject
    EventPublisher events;
    @Inject
    RunSupervisor supervisor;
    @Inject
    MeterRegistry metrics;
    @Inject
    RunTraces traces;
    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;

    private Slots slots;
    private RunCommandsReader commands;
    private PeerSlots peers;
    private HandOffs handOffs;
    /** a status is due soon (a slot change or a hand-off read): one publish covers what came meanwhile */
    private final java.util.concurrent.atomic.AtomicBoolean statusDue = new java.util.concurrent.atomic.AtomicBoolean();
    private Admin admin;
    private final List<QueueDispatcher> dispatchers = new ArrayList<>();
    private final ScheduledExecutorService heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "agent-heartbeat");
        t.setDaemon(true);
        return t;
    });
    private volatile String state = "STARTING";

    void start(@Observes StartupEvent event) {
        CrashPoints.configure(config.crashPoints().orElse(null));
        slots = new Slots(identity.maxJobs());
        Gauge.builder("launch_agent_running_runs", supervisor, r -> r.heldRuns().size())
                .description("runs this agent holds (claimed and not yet ended)").register(metrics);
        Gauge.builder("launch_agent_max_jobs", identity, AgentIdentity::maxJobs)
                .description("runs this agent runs at most at once").register(metrics);
        commands = new RunCommandsReader(bootstrap, identity.id(),
                stop -> supervisor.stop(stop.runId(), stop.reason()))
                .onRetry(retry -> supervisor.abandon(retry.runId(), retry.fromItem(), retry.attempt()))
                .onAdopt(supervisor::offerAdoption);
        Verdicts verdicts = new Verdicts(identity.id(), commands, events, supervisor, slots);
        handOffs = new HandOffs(identity.id(), identity.startedAt(), slots, verdicts, this::statusSoon,
                Counter.builder("launch_agent_handoffs_received_total")
                        .description("runs other agents' queue holders handed to this agent (ADR 0005)")
                        .register(metrics));
        commands.onHandOff(handOffs::read);
        slots.onAvailability(this::statusSoon);
        peers = new PeerSlots(bootstrap, identity.id(), config.heartbeatInterval().multipliedBy(3), slots::nudge);
        peers.start();
        commands.start();
        supervisor.useCommands(commands);
        supervisor.useSlots(slots);
        admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                AdminClientConfig.CLIENT_ID_CONFIG, identity.id() + "-levels",
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000));
        java.util.Set<String> existing = existingTopics();
        for (String queue : identity.queues()) {
            QueueDispatcher.Meters meters = new QueueDispatcher.Meters(
                    Counter.builder("launch_dead_letters_total")
                            .description("records sent to launch.dead-letter, by the topic they were read from")
                            .tag("topic", Topics.queue(queue)).register(metrics),
                    DistributionSummary.builder("launch_agent_take_batch_size")
                            .description("queue items taken together (claimed, recorded and committed as one batch)")
                            .tag("queue", queue).register(metrics),
                    Counter.builder("launch_agent_handoffs_total")
                            .description("items this agent, holding the queue, took for a peer with a free slot")
                            .tag("queue", queue).register(metrics),
                    Counter.builder("launch_agent_queue_assignments_total")
                            .description("times the queue's group gave this agent the queue (rebalances won)")
                            .tag("queue", queue).register(metrics));
            QueueDispatcher dispatcher = new QueueDispatcher(queue, existingQueueTopics(queue, existing),
                    identity.queues().size() >= QueueDispatcher.MANY_QUEUES, bootstrap, identity.id(), slots, events,
                    commands, verdicts, peers, admin, meters, config.sessionTimeout(), traces);
            dispatchers.add(dispatcher);
            dispatcher.start();
        }
        state = "POLLING";
        events.agent(EventTypes.AGENT_STARTED, identity.id(), status());
        long every = config.heartbeatInterval().toMillis();
        Counter heartbeats = Counter.builder("launch_agent_heartbeats_total")
                .description("heartbeats this agent sent (every launch.agent.heartbeat-interval)").register(metrics);
        heartbeat.scheduleAtFixedRate(() -> {
            try {
                events.agent(EventTypes.AGENT_HEARTBEAT, identity.id(), status());
                heartbeats.increment();
            } catch (RuntimeException e) {
                LOG.warnf("heartbeat failed: %s", e.toString());
            }
        }, every, every, TimeUnit.MILLISECONDS);
        LOG.infof("agent %s serves %s with max-jobs %d", identity.id(), identity.queues(), identity.maxJobs());
    }

    /**
     * Publishes the agent's status soon (on the heartbeat thread), once for any number of calls meanwhile: its
     * free slots changed between none and some, or it read a hand-off, and the holders of its queues must know.
     */
    private void statusSoon() {
        if (!"POLLING".equals(state) || !statusDue.compareAndSet(false, true)) {
            return;
        }
        try {
            heartbeat.execute(() -> {
                statusDue.set(false);
                try {
                    events.agent(EventTypes.AGENT_HEARTBEAT, identity.id(), status());
                } catch (RuntimeException e) {
                    LOG.warnf("status update failed: %s", e.toString());
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            statusDue.set(false); // shutting down
        }
    }

    /** The topics Kafka has now; empty when it cannot tell (every queue is then found by pattern). */
    private java.util.Set<String> existingTopics() {
        try {
            return admin.listTopics().names().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            LOG.warnf("cannot list Kafka's topics now (%s); every queue's topics are looked for by pattern",
                    e.toString());
            return java.util.Set.of();
        }
    }

    /** The queue's topics (one, or one per level) when they all exist, else an empty list. */
    static List<String> existingQueueTopics(String queue, java.util.Set<String> existing) {
        for (boolean prioritized : new boolean[] {false, true}) {
            List<String> topics = Topics.queueTopics(queue, prioritized);
            if (existing.containsAll(topics)) {
                return topics;
            }
        }
        return List.of();
    }

    /**
     * Stops taking work first and leaves the queues' groups (so other agents take their runs; a take in
     * progress still ends in a launch or a redelivery), then lets the held runs finish for up to the drain
     * time while heartbeats go on, then stops what still runs (FAILED in stage {@code agent}) without waiting
     * for Kafka, then closes the run-command reader and says goodbye.
     */
    void stop(@Observes ShutdownEvent event) {
        state = "DRAINING";
        dispatchers.forEach(QueueDispatcher::stopTaking);
        dispatchers.forEach(QueueDispatcher::close);
        if (handOffs != null) {
            handOffs.close();
        }
        if (peers != null) {
            peers.close();
        }
        drain(config.drain());
        state = "STOPPED";
        heartbeat.shutdownNow();
        supervisor.stopAll(config.stopGrace());
        if (commands != null) {
            commands.close();
        }
        if (admin != null) {
            admin.close(Duration.ofSeconds(2));
        }
        try {
            events.agent(EventTypes.AGENT_STOPPED, identity.id(), status()).get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warnf("could not announce the agent's stop: %s", e.toString());
        }
    }

    private void drain(Duration within) {
        if (within.isZero() || supervisor.heldRuns().isEmpty()) {
            return;
        }
        LOG.infof("agent %s drains: %d run(s) may finish within %s", identity.id(), supervisor.heldRuns().size(),
                within);
        long deadline = System.nanoTime() + within.toNanos();
        while (!supervisor.heldRuns().isEmpty() && System.nanoTime() < deadline) {
            try {
                supervisor.awaitChange(Duration.ofMillis(Math.min(500, (deadline - System.nanoTime()) / 1_000_000 + 1)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    public AgentStatus status() {
        HandOffs.View view = handOffs == null ? null : handOffs.view();
        return new AgentStatus(identity.id(), identity.queues(), identity.maxJobs(), supervisor.heldRuns(),
                identity.host(), ProcessHandle.current().pid(), config.heartbeatInterval().toMillis(),
                identity.startedAt(), view == null || !"POLLING".equals(state) ? null : view.freeSlots(),
                view == null ? null : view.read());
    }

    public String state() {
        if (!"POLLING".equals(state)) {
            return state;
        }
        return supervisor.heldRuns().isEmpty() ? "POLLING" : "RUNNING";
    }

}
