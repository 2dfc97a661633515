package dev.launch.agent.runner;

import dev.launch.common.event.RunRequest;

/**
 * One target behind one interface. {@link #launch} blocks until the work has ended and reports every
 * state change through the {@link RunReporter}; {@link #stop} may be called from any thread.
 */
public interface Runner {
    /** Target type served ({@code local-process} ...). */
    String targetType();

    /** Prepares, starts and watches the run to its end. */
    void launch(RunRequest request, RunReporter reporter);

    /** Asks the run's work to stop (graceful first, forced after the grace period). */
    void stop(String runId);

    /** Stops every run at once (agent shutdown) and returns when their work is gone or the time is up. */
    void stopAll(java.time.Duration within);
}
