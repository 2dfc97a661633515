package dev.launch.common.event;

import java.util.Map;

/**
 * Every event type of the contract and the payload class it carries. Facts are past tense,
 * commands imperative. Each type has a JSON Schema at {@code /schemas/events/<type>.json}.
 */
public final class EventTypes {
    public static final String JOB_VERSION_CREATED = "JobVersionCreated";
    public static final String QUEUE_CREATED = "QueueCreated";
    public static final String QUEUE_UPDATED = "QueueUpdated";
    public static final String QUEUE_DELETED = "QueueDeleted";

    public static final String RUN_QUEUED = "RunQueued";
    public static final String RUN_CLAIMED = "RunClaimed";
    public static final String RUN_STARTING = "RunStarting";
    public static final String RUN_RUNNING = "RunRunning";
    public static final String RUN_FINISHED = "RunFinished";
    public static final String RUN_FAILED = "RunFailed";
    public static final String RUN_STOP_REQUESTED = "RunStopRequested";
    public static final String RUN_STOPPING = "RunStopping";
    public static final String RUN_STOPPED = "RunStopped";
    public static final String RUN_PREEMPTED = "RunPreempted";
    public static final String RUN_REQUEUED = "RunRequeued";
    public static final String RUN_REPRIORITIZED = "RunReprioritized";
    /** Why a STARTING, RUNNING or STOPPING run is where it is ("pulling image"); the state does not change. */
    public static final String RUN_PROGRESSED = "RunProgressed";
    /**
     * An agent took over a run whose work outlived its owner: on {@code launch.run-commands} the claim the ledger
     * arbitrates (the first after an {@code AdoptRun} wins), then on {@code launch.runs} the fact for the read
     * model. The state does not change.
     */
    public static final String RUN_ADOPTED = "RunAdopted";

    public static final String STOP_RUN = "StopRun";
    public static final String MOVE_RUN = "MoveRun";
    /** The status service asks the agents of a run's queue to take over its work (its owner is gone). */
    public static final String ADOPT_RUN = "AdoptRun";
    /** An agent took a queue item (on {@code launch.run-commands}, in one order with the run's commands). */
    public static final String RUN_TAKEN = "RunTaken";
    /** An agent is about to start a taken item's work (on {@code launch.run-commands}); payload {@link RunTaken}. */
    public static final String RUN_LAUNCHING = "RunLaunching";
    public static final String RUN_OUTPUT_LOGGED = "RunOutputLogged";

    public static final String AGENT_STARTED = "AgentStarted";
    public static final String AGENT_HEARTBEAT = "AgentHeartbeat";
    public static final String AGENT_STOPPED = "AgentStopped";

    /** Payload class per type; the decoder refuses a type not listed here. */
    public static final Map<String, Class<?>> PAYLOADS = Map.ofEntries(
            Map.entry(JOB_VERSION_CREATED, JobVersionCreated.class),
            Map.entry(QUEUE_CREATED, QueueChanged.class),
            Map.entry(QUEUE_UPDATED, QueueChanged.class),
            Map.entry(QUEUE_DELETED, QueueChanged.class),
            Map.entry(RUN_QUEUED, RunLifecycle.class),
            Map.entry(RUN_CLAIMED, RunLifecycle.class),
            Map.entry(RUN_STARTING, RunLifecycle.class),
            Map.entry(RUN_RUNNING, RunLifecycle.class),
            Map.entry(RUN_FINISHED, RunLifecycle.class),
            Map.entry(RUN_FAILED, RunLifecycle.class),
            Map.entry(RUN_STOP_REQUESTED, RunLifecycle.class),
            Map.entry(RUN_STOPPING, RunLifecycle.class),
            Map.entry(RUN_STOPPED, RunLifecycle.class),
            Map.entry(RUN_PREEMPTED, RunLifecycle.class),
            Map.entry(RUN_REQUEUED, RunLifecycle.class),
            Map.entry(RUN_REPRIORITIZED, RunLifecycle.class),
            Map.entry(RUN_PROGRESSED, RunLifecycle.class),
            Map.entry(RUN_ADOPTED, RunLifecycle.class),
            Map.entry(ADOPT_RUN, AdoptRun.class),
            Map.entry(STOP_RUN, StopRun.class),
            Map.entry(MOVE_RUN, MoveRun.class),
            Map.entry(RUN_TAKEN, RunTaken.class),
            Map.entry(RUN_LAUNCHING, RunTaken.class),
            Map.entry(RUN_OUTPUT_LOGGED, RunLogBatch.class),
            Map.entry(AGENT_STARTED, AgentStatus.class),
            Map.entry(AGENT_HEARTBEAT, AgentStatus.class),
            Map.entry(AGENT_STOPPED, AgentStatus.class));

    /** The type of a queue item on {@code launch.queue.<name>}: a fully resolved run request. */
    public static final String RUN_REQUESTED = "RunRequested";

    private EventTypes() {
    }
}
