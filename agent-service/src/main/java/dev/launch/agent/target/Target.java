package dev.launch.agent.target;

import dev.launch.common.event.RunRequest;

import java.time.Duration;
import java.util.List;

/**
 * One target behind one interface (ADR 0002). A target submits a run attempt under a deterministic handle, tells
 * what becomes of it through a {@link TargetObserver} from its own threads (one stream or one poller for all of an
 * agent's runs, never a thread blocked per run where the target can push), stops it, and — when its work outlives
 * the agent — finds it again by handle so another agent can watch it to the end. Targets are CDI beans; the agent
 * finds each by {@link #type()}.
 */
public interface Target {
    /** The queue target type served ({@code local-process}, {@code local-container} ...). */
    String type();

    /**
     * Whether work submitted here keeps running without its agent, so another agent of the queue may adopt it;
     * false when the agent's own death ends it (a local process), whose runs are retried or failed instead.
     */
    boolean adoptable();

    /** The longest handle the target accepts ({@link Handles#of} shortens to it). */
    default int maxHandleLength() {
        return 63;
    }

    /**
     * Prepares and submits one attempt as {@code handle}. Blocks for the preparation and the submission only,
     * never for the run. Calls {@link TargetObserver#launching()} right before the step that starts work and
     * starts nothing when it answers false. Every later observation comes from the target's own threads, ending
     * in exactly one final one (exited, failed, stopped, preempted). An adoptable target never makes a second
     * copy: when work named {@code handle} exists already (the item was taken again after its work was
     * submitted), it watches that work as {@link #attach} does. The name is the lock: the engine, the API
     * server or the cloud refuses a second one.
     */
    void submit(RunRequest request, String handle, TargetObserver observer);

    /**
     * Watches existing work (adoption, or an item redelivered after its work was submitted): observations from
     * its current state on, output lines after {@code afterPosition} ({@code -1}: all). Work that is gone is
     * reported failed in stage {@code target}.
     */
    default void attach(RunRequest request, String handle, long afterPosition, TargetObserver observer) {
        observer.failed("agent", "the " + type() + " target cannot take over work it did not start", null);
    }

    /** Asks the work to stop: gracefully, forced after the agent's stop grace. */
    void stop(String handle);

    /** Stops watching {@code handle} without stopping it (another agent owns it now, or the agent shuts down). */
    default void detach(String handle) {
    }

    /** The handles of this installation's work for {@code queue} on the target, by label. */
    default List<String> find(String queue) {
        return List.of();
    }

    /**
     * Agent shutdown: work that does not outlive the agent is stopped (and reported) within {@code within};
     * adoptable work is left running and no longer watched.
     */
    void shutdown(Duration within);
}
