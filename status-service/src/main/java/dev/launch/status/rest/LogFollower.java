package dev.launch.status.rest;

import dev.launch.common.event.Events;
import dev.launch.common.run.RunState;
import dev.launch.status.messaging.RunChanges;
import dev.launch.status.repository.LogStore;
import dev.launch.status.repository.RunReadModel;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.subscription.Cancellable;
import io.smallrye.mutiny.subscription.MultiEmitter;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.sse.OutboundSseEvent;
import jakarta.ws.rs.sse.Sse;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;

/**
 * One follower of a run's output ({@code GET /api/v1/runs/{id}/logs/stream}): reads the store on from a cursor
 * whenever this instance stores a batch of the run, the run ends, or a second passes (what another instance stored,
 * a wake-up lost to a full buffer), and sends each page as a {@code log} event whose id is its cursor, then one
 * {@code complete} event once the run has ended and its last line is sent. Reads never overlap: wake-ups that
 * arrive during a read are folded into one more read.
 */
final class LogFollower {
    /** Between reads when nothing wakes the follower. */
    static final Duration TICK = Duration.ofSeconds(1);

    private final String runId;
    private final Sse sse;
    private final RunChanges changes;
    private final RunReadModel model;
    /** Reads one page after a cursor; the boolean says whether the run has ended. */
    private final BiFunction<Boolean, LogStore.Cursor, Uni<RunResource.LogRead>> reader;
    private final AtomicInteger wanted = new AtomicInteger();
    private volatile LogStore.Cursor at;
    private volatile boolean ended;
    private MultiEmitter<? super OutboundSseEvent> emitter;

    LogFollower(String runId, LogStore.Cursor from, Sse sse, RunChanges changes, RunReadModel model,
                BiFunction<Boolean, LogStore.Cursor, Uni<RunResource.LogRead>> reader) {
        this.runId = runId;
        this.at = from;
        this.sse = sse;
        this.changes = changes;
        this.model = model;
        this.reader = reader;
    }

    Multi<OutboundSseEvent> events() {
        return Multi.createFrom().emitter(emitter -> {
            this.emitter = emitter;
            List<Cancellable> wakers = List.of(
                    changes.logsStored().filter(runId::equals).subscribe().with(id -> wake(), emitter::fail),
                    changes.stream().filter(c -> c.runId().equals(runId) && RunState.valueOf(c.state()).isTerminal())
                            .subscribe().with(c -> wake(), emitter::fail),
                    Multi.createFrom().ticks().every(TICK).subscribe().with(tick -> wake(), emitter::fail));
            emitter.onTermination(() -> wakers.forEach(Cancellable::cancel));
            wake();
        });
    }

    private void wake() {
        if (wanted.getAndIncrement() == 0) {
            read(1);
        }
    }

    /** Reads until a page says there is no more, then once more for each wake-up that came meanwhile. */
    private void read(int missed) {
        if (emitter.isCancelled()) {
            return;
        }
        Uni<Boolean> hasEnded = ended ? Uni.createFrom().item(true) : model.stateOf(runId)
                .map(state -> state == null || RunState.valueOf(state).isTerminal());
        hasEnded.chain(end -> {
            ended = end;
            return reader.apply(end, at);
        }).subscribe().with(read -> {
            LogStore.Page page = read.page();
            if (!page.text().isEmpty()) {
                emitter.emit(sse.newEventBuilder().name("log").id(page.cursor().toString())
                        .mediaType(MediaType.APPLICATION_JSON_TYPE)
                        .data(json(Map.of("cursor", page.cursor().toString(), "text", page.text()))).build());
            }
            at = page.cursor();
            if (read.complete()) {
                emitter.emit(sse.newEventBuilder().name("complete").id(at.toString())
                        .mediaType(MediaType.APPLICATION_JSON_TYPE)
                        .data(json(Map.of("cursor", at.toString()))).build());
                emitter.complete();
                return;
            }
            if (page.more()) {
                read(missed);
                return;
            }
            int left = wanted.addAndGet(-missed);
            if (left != 0) {
                read(left);
            }
        }, emitter::fail);
    }

    private static String json(Object value) {
        try {
            return Events.MAPPER.writeValueAsString(value);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
