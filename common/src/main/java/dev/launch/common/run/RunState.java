package dev.launch.common.run;

/** The states of a run (design §4). See {@link RunStateMachine} for the transitions. */
public enum RunState {
    QUEUED, CLAIMED, STARTING, RUNNING, STOPPING, PREEMPTED, FINISHED, FAILED, STOPPED;

    /** A terminal state never changes again. */
    public boolean isTerminal() {
        return this == FINISHED || this == FAILED || this == STOPPED;
    }
}
