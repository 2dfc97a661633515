package dev.launch.messaging;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.context.propagation.TextMapSetter;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A run's trace context where it travels: W3C trace context ({@code traceparent}, {@code tracestate}) in the
 * headers of the Kafka records written about the run, as OpenTelemetry's Kafka instrumentation writes it, and as
 * one {@code traceparent} string in the run's request, so an agent that takes, is handed, adopts or retries the run
 * goes on with the trace its enqueue began. The raw Kafka clients are not instrumented: the code that writes or
 * reads a record about a run calls this. Nothing is written for a context without a valid span (tracing off).
 */
public final class TraceHeaders {
    public static final String TRACEPARENT = "traceparent";
    private static final W3CTraceContextPropagator W3C = W3CTraceContextPropagator.getInstance();

    private static final TextMapSetter<Headers> HEADER_SETTER = (headers, key, value) -> {
        headers.remove(key);
        headers.add(key, value.getBytes(StandardCharsets.UTF_8));
    };

    private static final TextMapGetter<Headers> HEADER_GETTER = new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(Headers headers) {
            List<String> keys = new ArrayList<>();
            for (Header header : headers) {
                keys.add(header.key());
            }
            return keys;
        }

        @Override
        public String get(Headers headers, String key) {
            if (headers == null) {
                return null;
            }
            Header header = headers.lastHeader(key);
            return header == null || header.value() == null ? null
                    : new String(header.value(), StandardCharsets.UTF_8);
        }
    };

    private static final TextMapGetter<Map<String, String>> MAP_GETTER = new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(Map<String, String> carrier) {
            return carrier.keySet();
        }

        @Override
        public String get(Map<String, String> carrier, String key) {
            return carrier == null ? null : carrier.get(key);
        }
    };

    private TraceHeaders() {
    }

    /** Writes {@code context}'s span into {@code headers} (replacing what they held), when it has a valid one. */
    public static void inject(Context context, Headers headers) {
        if (context != null && Span.fromContext(context).getSpanContext().isValid()) {
            W3C.inject(context, headers, HEADER_SETTER);
        }
    }

    /** The remote parent {@code headers} name, or the root context when they name none. */
    public static Context extract(Headers headers) {
        return headers == null ? Context.root() : W3C.extract(Context.root(), headers, HEADER_GETTER);
    }

    /** {@code context}'s span as one {@code traceparent} value, or null when it has no valid span. */
    public static String traceParent(Context context) {
        if (context == null || !Span.fromContext(context).getSpanContext().isValid()) {
            return null;
        }
        Map<String, String> carrier = new HashMap<>();
        W3C.inject(context, carrier, Map::put);
        return carrier.get(TRACEPARENT);
    }

    /** The remote parent a {@code traceparent} value names, or the root context for null or a malformed one. */
    public static Context fromTraceParent(String traceParent) {
        if (traceParent == null || traceParent.isBlank()) {
            return Context.root();
        }
        return W3C.extract(Context.root(), Map.of(TRACEPARENT, traceParent), MAP_GETTER);
    }
}
