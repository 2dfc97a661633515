package dev.launch.status.messaging;

import dev.launch.status.repository.RunChange;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.operators.multi.processors.BroadcastProcessor;
import jakarta.enterprise.context.ApplicationScoped;

/** State changes as they are applied, for Server-Sent Events subscribers of this instance. */
@ApplicationScoped
public class RunChanges {
    private final BroadcastProcessor<RunChange> changes = BroadcastProcessor.create();

    void publish(RunChange change) {
        changes.onNext(change);
    }

    public Multi<RunChange> stream() {
        return changes;
    }
}
