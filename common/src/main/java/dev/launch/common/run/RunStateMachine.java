package dev.launch.common.run;

import dev.launch.common.event.EventTypes;

import java.util.EnumSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static dev.launch.common.run.RunState.*;

/**
 * The run state machine, written once for every service.
 *
 * <pre>
 *                 RunStopRequested (never launched)
 *        +-----------------------------------------------------------+
 *        |                                                           v
 *  (none) --RunQueued--> QUEUED --RunClaimed--> CLAIMED --RunStarting--> STARTING --RunRunning--> RUNNING
 *                          ^                      |  \                      |                       |
 *                          |                      |   +--RunRunning---------+-----------------------+
 *                     RunRequeued                 |                                                  |
 *                          |        RunStopRequested / RunStopping (CLAIMED, STARTING, RUNNING)      |
 *                      PREEMPTED <--RunPreempted--+----------------> STOPPING --RunStopped--> STOPPED
 *                                                                                                    |
 *              RunFinished: CLAIMED | STARTING | RUNNING | STOPPING  --> FINISHED                     |
 *              RunFailed:   QUEUED | CLAIMED | STARTING | RUNNING | STOPPING | PREEMPTED (no attempts left)
 *                           --> FAILED  &lt;---------------------------------------------------------------+
 *              RunStopped:  QUEUED | CLAIMED | STARTING | RUNNING | STOPPING --> STOPPED
 *              RunReprioritized: QUEUED | CLAIMED (of the item moved away from) --> QUEUED
 *              RunRequeued: PREEMPTED, or CLAIMED | STARTING (handed back: its agent was lost before starting it),
 *                           or CLAIMED | STARTING | RUNNING (retried as attempt + 1: its agent was lost after
 *                           starting it) --> QUEUED
 *              RunProgressed, RunAdopted: STARTING | RUNNING | STOPPING --> the same state (a reason while
 *                           waiting on the target; another agent took over the work)
 * </pre>
 *
 * A {@code RunStopRequested} is the one fact whose effect depends on the state: a QUEUED run goes straight to
 * STOPPED (agents check for the request before they launch, so it is never launched); a run an agent holds
 * goes to STOPPING until the agent reports how it ended. Any transition not listed is refused: the consumer
 * logs it and leaves the run as it is (a duplicate or a late event changes nothing).
 */
public final class RunStateMachine {

    private static final Set<RunState> HELD = EnumSet.of(CLAIMED, STARTING, RUNNING);

    /** Facts that say something about a run without moving it, and the states they may come in. */
    private static final Map<String, Set<RunState>> KEEPING = Map.of(
            EventTypes.RUN_PROGRESSED, EnumSet.of(STARTING, RUNNING, STOPPING),
            EventTypes.RUN_ADOPTED, EnumSet.of(STARTING, RUNNING, STOPPING));

    private static final Map<String, Set<RunState>> SOURCES = Map.ofEntries(
            Map.entry(EventTypes.RUN_CLAIMED, EnumSet.of(QUEUED)),
            Map.entry(EventTypes.RUN_STARTING, EnumSet.of(CLAIMED)),
            Map.entry(EventTypes.RUN_RUNNING, EnumSet.of(CLAIMED, STARTING)),
            Map.entry(EventTypes.RUN_FINISHED, EnumSet.of(CLAIMED, STARTING, RUNNING, STOPPING)),
            // from PREEMPTED: preempted with no attempts left
            Map.entry(EventTypes.RUN_FAILED, EnumSet.of(QUEUED, CLAIMED, STARTING, RUNNING, STOPPING, PREEMPTED)),
            Map.entry(EventTypes.RUN_STOPPING, EnumSet.of(CLAIMED, STARTING, RUNNING)),
            Map.entry(EventTypes.RUN_STOPPED, EnumSet.of(QUEUED, CLAIMED, STARTING, RUNNING, STOPPING)),
            Map.entry(EventTypes.RUN_PREEMPTED, EnumSet.of(STARTING, RUNNING)),
            // back in the queue: preempted, handed back after its agent was lost before starting it, or retried
            // as a new attempt after its agent was lost while it ran (the queue's maxAttempts allowing)
            Map.entry(EventTypes.RUN_REQUEUED, EnumSet.of(PREEMPTED, CLAIMED, STARTING, RUNNING)),
            // a claim of the item the run was moved away from comes to nothing (the agent skips it)
            Map.entry(EventTypes.RUN_REPRIORITIZED, EnumSet.of(QUEUED, CLAIMED)));

    private static final Map<String, RunState> TARGETS = Map.ofEntries(
            Map.entry(EventTypes.RUN_CLAIMED, CLAIMED),
            Map.entry(EventTypes.RUN_STARTING, STARTING),
            Map.entry(EventTypes.RUN_RUNNING, RUNNING),
            Map.entry(EventTypes.RUN_FINISHED, FINISHED),
            Map.entry(EventTypes.RUN_FAILED, FAILED),
            Map.entry(EventTypes.RUN_STOPPING, STOPPING),
            Map.entry(EventTypes.RUN_STOPPED, STOPPED),
            Map.entry(EventTypes.RUN_PREEMPTED, PREEMPTED),
            Map.entry(EventTypes.RUN_REQUEUED, QUEUED),
            Map.entry(EventTypes.RUN_REPRIORITIZED, QUEUED));

    private RunStateMachine() {
    }

    /**
     * The state a run moves to when {@code eventType} is applied in state {@code current}
     * ({@code null} when the run is not known yet), or empty when the transition is not allowed.
     */
    public static Optional<RunState> next(RunState current, String eventType) {
        if (EventTypes.RUN_QUEUED.equals(eventType)) {
            return current == null ? Optional.of(QUEUED) : Optional.empty();
        }
        if (current == null) {
            return Optional.empty();
        }
        if (EventTypes.RUN_STOP_REQUESTED.equals(eventType)) {
            if (current == QUEUED) {
                return Optional.of(STOPPED);
            }
            return HELD.contains(current) ? Optional.of(STOPPING) : Optional.empty();
        }
        Set<RunState> keeping = KEEPING.get(eventType);
        if (keeping != null) {
            return keeping.contains(current) ? Optional.of(current) : Optional.empty();
        }
        Set<RunState> from = SOURCES.get(eventType);
        if (from == null || !from.contains(current)) {
            return Optional.empty();
        }
        return Optional.of(TARGETS.get(eventType));
    }

    /** Whether {@code eventType} is a run lifecycle fact this machine knows. */
    public static boolean isLifecycleEvent(String eventType) {
        return EventTypes.RUN_QUEUED.equals(eventType) || EventTypes.RUN_STOP_REQUESTED.equals(eventType)
                || SOURCES.containsKey(eventType) || KEEPING.containsKey(eventType);
    }
}
