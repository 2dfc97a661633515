package dev.launch.status.messaging;

import dev.launch.status.repository.RunChange;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.operators.multi.processors.BroadcastProcessor;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * What this instance applies, as it applies it, for its Server-Sent Events subscribers: state changes, and the
 * runs whose output it has just stored (what wakes a log follower).
 */
@ApplicationScoped
public class RunChanges {
    /**
     * Changes a subscriber may lag behind by before its stream fails (its client reconnects and reads afresh):
     * a burst of enqueues must not cut a dashboard's stream, a stalled client must not hold memory forever.
     */
    static final int BUFFER = 10_000;

    private final BroadcastProcessor<RunChange> changes = BroadcastProcessor.create();
    private final BroadcastProcessor<String> logsStored = BroadcastProcessor.create();

    // synchronized: a processor takes one signal at a time, and the consumers publish from their own threads
    synchronized void publish(RunChange change) {
        changes.onNext(change);
    }

    synchronized void logsStored(String runId) {
        logsStored.onNext(runId);
    }

    /** Every state change from now on, each subscriber with its own bounded buffer. */
    public Multi<RunChange> stream() {
        return changes.onOverflow().buffer(BUFFER);
    }

    /** The id of each run whose output batch was just stored, from now on (a hint: read the store for the lines). */
    public Multi<String> logsStored() {
        return logsStored.onOverflow().drop();
    }
}
