package dev.launch.agent.messaging;

import dev.launch.common.event.RunRequest;
import dev.launch.messaging.TraceHeaders;
import dev.launch.messaging.Tracing;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.context.Context;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The trace each run this agent works on belongs to. A run's trace begins at its enqueue (the request's
 * {@code traceParent}); the agent's spans for it (taking the item, submitting it to the target, stopping it) are
 * made here in that trace, and every record the agent writes about the run carries the span it last began
 * ({@link EventPublisher}), so the status service's spans join the same trace. Remembered while the agent works on
 * the run: forgotten when it reports the run's end, and at most {@link #REMEMBERED} runs at once (the oldest go;
 * a run's later records then carry the enqueue's span from its request, or none).
 */
@ApplicationScoped
public class RunTraces {
    static final int REMEMBERED = 10_000;

    @Inject
    Tracing tracing;

    private final Map<String, Context> runs = new LinkedHashMap<>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Context> eldest) {
            return size() > REMEMBERED;
        }
    };

    /**
     * Begins a span of the agent's work on the run, in its trace; the run's records from now on carry it. The
     * caller ends it.
     */
    public Span begin(String name, SpanKind kind, RunRequest request, String agentId) {
        Span span = tracing.tracer().spanBuilder(name).setParent(of(request)).setSpanKind(kind)
                .setAttribute("launch.run.id", request.runId())
                .setAttribute("launch.queue", request.queue())
                .setAttribute("launch.attempt", (long) request.attempt())
                .setAttribute("launch.agent", agentId)
                .startSpan();
        if (span.getSpanContext().isValid()) {
            remember(request.runId(), Context.root().with(span));
        }
        return span;
    }

    /** The run's trace: the span the agent last began for it, else the enqueue's (remembered from now on). */
    public synchronized Context of(RunRequest request) {
        Context known = runs.get(request.runId());
        if (known != null) {
            return known;
        }
        Context enqueued = TraceHeaders.fromTraceParent(request.traceParent());
        if (Span.fromContext(enqueued).getSpanContext().isValid()) {
            runs.put(request.runId(), enqueued);
        }
        return enqueued;
    }

    /** The run's trace as far as the agent knows it, or the root context (no trace). */
    public synchronized Context of(String runId) {
        return runs.getOrDefault(runId, Context.root());
    }

    /** The agent is done with the run (it reported its end). */
    public synchronized void forget(String runId) {
        runs.remove(runId);
    }

    private synchronized void remember(String runId, Context context) {
        runs.put(runId, context);
    }
}
