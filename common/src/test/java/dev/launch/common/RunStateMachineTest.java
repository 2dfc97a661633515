package dev.launch.common;

import dev.launch.common.run.RunState;
import dev.launch.common.run.RunStateMachine;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;

import static dev.launch.common.event.EventTypes.*;
import static dev.launch.common.run.RunState.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RunStateMachineTest {

    private static RunState walk(String... types) {
        RunState state = null;
        for (String type : types) {
            Optional<RunState> next = RunStateMachine.next(state, type);
            if (next.isPresent()) {
                state = next.get();
            }
        }
        return state;
    }

    @Test
    void happyPathEndsFinished() {
        assertEquals(FINISHED, walk(RUN_QUEUED, RUN_CLAIMED, RUN_STARTING, RUN_RUNNING, RUN_FINISHED));
    }

    @Test
    void runningMayBeReportedWithoutStarting() {
        assertEquals(RUNNING, walk(RUN_QUEUED, RUN_CLAIMED, RUN_RUNNING));
    }

    @Test
    void stopRequestedWhileQueuedStopsAtOnceAndALaterClaimIsRefused() {
        assertEquals(STOPPED, walk(RUN_QUEUED, RUN_STOP_REQUESTED));
        assertEquals(STOPPED, walk(RUN_QUEUED, RUN_STOP_REQUESTED, RUN_CLAIMED, RUN_RUNNING));
    }

    @Test
    void stopRequestedWhileHeldWaitsForTheAgent() {
        assertEquals(STOPPING, walk(RUN_QUEUED, RUN_CLAIMED, RUN_STOP_REQUESTED));
        assertEquals(STOPPING, walk(RUN_QUEUED, RUN_CLAIMED, RUN_STOP_REQUESTED, RUN_RUNNING));
        assertEquals(STOPPED, walk(RUN_QUEUED, RUN_CLAIMED, RUN_STOP_REQUESTED, RUN_STOPPED));
        assertEquals(FINISHED, walk(RUN_QUEUED, RUN_CLAIMED, RUN_RUNNING, RUN_STOP_REQUESTED, RUN_FINISHED));
    }

    @Test
    void terminalStatesNeverChange() {
        for (String type : new String[]{RUN_QUEUED, RUN_CLAIMED, RUN_STARTING, RUN_RUNNING, RUN_FINISHED, RUN_FAILED,
                RUN_STOP_REQUESTED, RUN_STOPPING, RUN_STOPPED, RUN_PREEMPTED, RUN_REQUEUED, RUN_REPRIORITIZED}) {
            for (RunState terminal : new RunState[]{FINISHED, FAILED, STOPPED}) {
                assertEquals(Optional.empty(), RunStateMachine.next(terminal, type), terminal + " + " + type);
            }
        }
    }

    @Test
    void duplicatesChangeNothing() {
        assertEquals(Optional.empty(), RunStateMachine.next(QUEUED, RUN_QUEUED));
        assertEquals(Optional.empty(), RunStateMachine.next(CLAIMED, RUN_CLAIMED));
        assertEquals(Optional.empty(), RunStateMachine.next(RUNNING, RUN_RUNNING));
    }

    @Test
    void preemptedRunIsRequeued() {
        assertEquals(QUEUED, walk(RUN_QUEUED, RUN_CLAIMED, RUN_RUNNING, RUN_PREEMPTED, RUN_REQUEUED));
        assertEquals(FAILED, walk(RUN_QUEUED, RUN_CLAIMED, RUN_RUNNING, RUN_PREEMPTED, RUN_FAILED),
                "preempted with no attempts left");
        assertEquals(Optional.empty(), RunStateMachine.next(QUEUED, RUN_PREEMPTED));
    }

    @Test
    void aReprioritizedRunWaitsAgainAndOneAlreadyStartedIsNotMoved() {
        assertEquals(QUEUED, walk(RUN_QUEUED, RUN_REPRIORITIZED));
        // a claim of the item moved away from, recorded before the move: the move still holds
        assertEquals(QUEUED, walk(RUN_QUEUED, RUN_CLAIMED, RUN_REPRIORITIZED));
        assertEquals(Optional.empty(), RunStateMachine.next(STARTING, RUN_REPRIORITIZED));
        assertEquals(Optional.empty(), RunStateMachine.next(RUNNING, RUN_REPRIORITIZED));
        assertEquals(Optional.empty(), RunStateMachine.next(STOPPING, RUN_REPRIORITIZED));
    }

    @Test
    void aRunOfALostAgentWaitsAgainHandedBackOrRetriedButNotOnceStoppingOrEnded() {
        assertEquals(QUEUED, walk(RUN_QUEUED, RUN_CLAIMED, RUN_REQUEUED));
        assertEquals(QUEUED, walk(RUN_QUEUED, RUN_CLAIMED, RUN_STARTING, RUN_REQUEUED));
        assertEquals(QUEUED, walk(RUN_QUEUED, RUN_CLAIMED, RUN_STARTING, RUN_RUNNING, RUN_REQUEUED));
        assertEquals(Optional.empty(), RunStateMachine.next(STOPPING, RUN_REQUEUED), "a stop was asked for");
        assertEquals(Optional.empty(), RunStateMachine.next(QUEUED, RUN_REQUEUED));
    }

    @Test
    void unknownRunAcceptsOnlyQueued() {
        assertEquals(Optional.empty(), RunStateMachine.next(null, RUN_CLAIMED));
        assertEquals(Optional.of(QUEUED), RunStateMachine.next(null, RUN_QUEUED));
        assertTrue(RunStateMachine.isLifecycleEvent(RUN_STOP_REQUESTED));
    }

    @Test
    void progressAndAdoptionKeepTheStateAndComeOnlyWhileTheWorkIsHeld() {
        for (RunState held : List.of(STARTING, RUNNING, STOPPING)) {
            assertEquals(Optional.of(held), RunStateMachine.next(held, RUN_PROGRESSED));
            assertEquals(Optional.of(held), RunStateMachine.next(held, RUN_ADOPTED));
        }
        for (RunState other : List.of(QUEUED, CLAIMED, FINISHED, FAILED, STOPPED, PREEMPTED)) {
            assertEquals(Optional.empty(), RunStateMachine.next(other, RUN_PROGRESSED), other.name());
            assertEquals(Optional.empty(), RunStateMachine.next(other, RUN_ADOPTED), other.name());
        }
        assertTrue(RunStateMachine.isLifecycleEvent(RUN_PROGRESSED));
        assertTrue(RunStateMachine.isLifecycleEvent(RUN_ADOPTED));
    }
}
