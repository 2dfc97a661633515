package dev.launch.devstack;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;

/**
 * For tests of a Quarkus service in this JVM: the log records written while open, each with its formatted message and the run keys of its MDC as the
 * logging thread held them (what the JSON log of the prod profile shows under {@code mdc}).
 */
public final class LogCapture extends Handler implements AutoCloseable {
    public record Line(String message, String runId, String queue, String agent) {
    }

    private final List<Line> lines = new CopyOnWriteArrayList<>();
    private final java.util.logging.Logger root = java.util.logging.Logger.getLogger("");

    public LogCapture() {
        root.addHandler(this);
    }

    @Override
    public void publish(LogRecord record) {
        String message = record.getMessage();
        Map<String, String> mdc = Map.of();
        if (record instanceof org.jboss.logmanager.ExtLogRecord ext) {
            message = ext.getFormattedMessage();
            mdc = ext.getMdcCopy(); // what the formatters print (on a Vert.x thread, the context's MDC)
        }
        lines.add(new Line(message, mdc.get("runId"), mdc.get("queue"), mdc.get("agent")));
    }

    /** The lines whose message mentions {@code text}. */
    public List<Line> mentioning(String text) {
        return lines.stream().filter(l -> l.message() != null && l.message().contains(text)).toList();
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
        root.removeHandler(this);
    }
}
