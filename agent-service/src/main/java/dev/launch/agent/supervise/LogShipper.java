package dev.launch.agent.supervise;

import dev.launch.agent.messaging.EventPublisher;
import dev.launch.common.event.RunLogBatch;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Collects a run's output lines and ships them to {@code launch.run-logs} in batches numbered by the target
 * position of their first line: when a batch is full, when {@link #flushIfDue} finds the oldest line old
 * enough, and at the end.
 */
public class LogShipper {
    static final int MAX_LINE = 16 * 1024;

    private final EventPublisher publisher;
    private final String runId;
    private final int attempt;
    private final String agentId;
    private final int maxLines;
    private final long flushNanos;
    private final List<RunLogBatch.Line> buffer = new ArrayList<>();
    private long seq;
    private long oldest;
    private CompletableFuture<?> last = CompletableFuture.completedFuture(null);

    public LogShipper(EventPublisher publisher, String runId, int attempt, String agentId, int maxLines,
                      java.time.Duration flushInterval) {
        this.publisher = publisher;
        this.runId = runId;
        this.attempt = attempt;
        this.agentId = agentId;
        this.maxLines = maxLines;
        this.flushNanos = flushInterval.toNanos();
    }

    /** A line at {@code position} of the attempt's output on the target. */
    public synchronized void add(String stream, String line, long position) {
        add(stream, null, line, position);
    }

    /** A line at {@code position} of one source's output ({@code source} null: the attempt has one). */
    public synchronized void add(String stream, String source, String line, long position) {
        if (buffer.isEmpty()) {
            oldest = System.nanoTime();
        }
        String text = line.length() > MAX_LINE ? line.substring(0, MAX_LINE) + " [line cut at 16 KiB]" : line;
        buffer.add(new RunLogBatch.Line(stream, Instant.now(), text, position, source));
        if (buffer.size() >= maxLines) {
            flush();
        }
    }

    public synchronized void flushIfDue() {
        if (!buffer.isEmpty() && System.nanoTime() - oldest >= flushNanos) {
            flush();
        }
    }

    /** Ships what is buffered; the returned future completes when every batch so far is acknowledged. */
    public synchronized CompletableFuture<?> flush() {
        if (!buffer.isEmpty()) {
            // numbered by the target position of its first line, so batches of two owners never share a number
            Long first = buffer.get(0).position();
            RunLogBatch batch = new RunLogBatch(runId, attempt, agentId, first != null ? first : seq, List.copyOf(buffer));
            seq++;
            buffer.clear();
            last = CompletableFuture.allOf(last, publisher.logs(batch));
        }
        return last;
    }
}
