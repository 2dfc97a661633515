package dev.launch.messaging;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.context.Context;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

class TraceHeadersTest {
    private static final String TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String SPAN = "00f067aa0ba902b7";

    private static Context spanContext() {
        return Context.root().with(Span.wrap(SpanContext.create(TRACE, SPAN, TraceFlags.getSampled(),
                TraceState.getDefault())));
    }

    @Test
    void aSpanWrittenIntoARecordsHeadersIsReadBackAsItsRemoteParent() {
        RecordHeaders headers = new RecordHeaders();
        headers.add("traceparent", "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01".getBytes(StandardCharsets.UTF_8));
        TraceHeaders.inject(spanContext(), headers);

        assertEquals(1, headers.toArray().length, "a header it held is replaced, not doubled");
        assertEquals("00-" + TRACE + "-" + SPAN + "-01",
                new String(headers.lastHeader("traceparent").value(), StandardCharsets.UTF_8));
        SpanContext read = Span.fromContext(TraceHeaders.extract(headers)).getSpanContext();
        assertEquals(TRACE, read.getTraceId());
        assertEquals(SPAN, read.getSpanId());
        assertEquals(true, read.isRemote());
    }

    @Test
    void aTraceParentValueNamesTheSameSpan() {
        String value = TraceHeaders.traceParent(spanContext());
        assertEquals("00-" + TRACE + "-" + SPAN + "-01", value);
        SpanContext read = Span.fromContext(TraceHeaders.fromTraceParent(value)).getSpanContext();
        assertEquals(TRACE, read.getTraceId());
        assertEquals(SPAN, read.getSpanId());
    }

    @Test
    void withoutAValidSpanNothingIsWrittenAndNothingIsRead() {
        RecordHeaders headers = new RecordHeaders();
        TraceHeaders.inject(Context.root(), headers);
        assertEquals(0, headers.toArray().length);
        assertNull(TraceHeaders.traceParent(Context.root()));
        assertFalse(Span.fromContext(TraceHeaders.extract(headers)).getSpanContext().isValid());
        assertFalse(Span.fromContext(TraceHeaders.fromTraceParent("not-a-traceparent")).getSpanContext().isValid());
        assertFalse(Span.fromContext(TraceHeaders.fromTraceParent(null)).getSpanContext().isValid());
    }
}
