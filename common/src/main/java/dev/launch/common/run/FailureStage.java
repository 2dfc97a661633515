package dev.launch.common.run;

import java.util.Locale;

/** Where a failed run failed; every {@code RunFailed} carries one. */
public enum FailureStage {
    /** the queue could not accept or resolve the run */
    ENQUEUE,
    /** the agent failed or died while holding the run */
    AGENT,
    /** preparing the code (clone, copy, image build) failed */
    BUILD,
    /** the target refused or lost the work, or it did not start in time */
    TARGET,
    /** the run's own process failed */
    RUN;

    public String wire() {
        return name().toLowerCase(Locale.ROOT);
    }
}
