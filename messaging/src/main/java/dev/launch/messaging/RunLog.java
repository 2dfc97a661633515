package dev.launch.messaging;

import org.jboss.logging.Logger;
import org.jboss.logging.MDC;

import java.util.HashMap;
import java.util.Map;

/**
 * The run a log line is about, in the line's MDC: {@code runId}, {@code queue} and {@code agent} (the JSON log of
 * the prod profile shows them under {@code mdc}, so a log store can select one run's lines across processes).
 * Either a scope around work for one run on a thread of one's own (the thread keeps it until the scope closes;
 * {@link #propagating} carries it to a task run elsewhere), or one line at a time ({@link #infof} ...) where work
 * for many runs interleaves, and always on a Vert.x event loop, whose root context keeps no MDC put.
 */
public final class RunLog {
    public static final String RUN_ID = "runId";
    public static final String QUEUE = "queue";
    public static final String AGENT = "agent";
    private static final String[] KEYS = {RUN_ID, QUEUE, AGENT};

    private RunLog() {
    }

    /** Puts back what the MDC held before the scope. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /** The run's keys in this thread's MDC (a null value leaves its key as it was) until the scope closes. */
    public static Scope scope(String runId, String queue, String agent) {
        Map<String, Object> before = current();
        put(RUN_ID, runId);
        put(QUEUE, queue);
        put(AGENT, agent);
        return () -> restore(before);
    }

    /** {@code task} with the run keys this thread holds now, wherever and whenever it runs. */
    public static Runnable propagating(Runnable task) {
        Map<String, Object> captured = current();
        if (captured.isEmpty()) {
            return task;
        }
        return () -> {
            Map<String, Object> before = current();
            captured.forEach(MDC::put);
            try {
                task.run();
            } finally {
                restore(before);
            }
        };
    }

    public static void infof(Logger log, String runId, String queue, String agent, String format, Object... params) {
        line(log, Logger.Level.INFO, runId, queue, agent, format, params);
    }

    public static void warnf(Logger log, String runId, String queue, String agent, String format, Object... params) {
        line(log, Logger.Level.WARN, runId, queue, agent, format, params);
    }

    public static void errorf(Logger log, String runId, String queue, String agent, String format, Object... params) {
        line(log, Logger.Level.ERROR, runId, queue, agent, format, params);
    }

    /**
     * One line with the run keys in the record itself, beside what the thread's MDC holds: on a Vert.x event loop
     * (its root context) an MDC put is not kept, so a scope would be lost there.
     */
    private static void line(Logger log, Logger.Level level, String runId, String queue, String agent, String format,
                             Object... params) {
        if (!log.isEnabled(level)) {
            return;
        }
        org.jboss.logmanager.ExtLogRecord record = new org.jboss.logmanager.ExtLogRecord(julLevel(level),
                params.length == 0 ? format : String.format(format, params),
                org.jboss.logmanager.ExtLogRecord.FormatStyle.NO_FORMAT, RunLog.class.getName());
        Map<String, String> mdc = new HashMap<>(org.jboss.logmanager.MDC.copy());
        putIn(mdc, RUN_ID, runId);
        putIn(mdc, QUEUE, queue);
        putIn(mdc, AGENT, agent);
        record.setMdc(mdc);
        org.jboss.logmanager.Logger.getLogger(log.getName()).logRaw(record);
    }

    private static java.util.logging.Level julLevel(Logger.Level level) {
        return switch (level) {
            case FATAL -> org.jboss.logmanager.Level.FATAL;
            case ERROR -> org.jboss.logmanager.Level.ERROR;
            case WARN -> org.jboss.logmanager.Level.WARN;
            case INFO -> org.jboss.logmanager.Level.INFO;
            case DEBUG -> org.jboss.logmanager.Level.DEBUG;
            case TRACE -> org.jboss.logmanager.Level.TRACE;
        };
    }

    private static void putIn(Map<String, String> mdc, String key, String value) {
        if (value != null) {
            mdc.put(key, value);
        }
    }

    private static void put(String key, String value) {
        if (value != null) {
            MDC.put(key, value);
        }
    }

    private static Map<String, Object> current() {
        Map<String, Object> values = new HashMap<>();
        for (String key : KEYS) {
            Object value = MDC.get(key);
            if (value != null) {
                values.put(key, value);
            }
        }
        return values;
    }

    private static void restore(Map<String, Object> before) {
        for (String key : KEYS) {
            Object value = before.get(key);
            if (value == null) {
                MDC.remove(key);
            } else {
                MDC.put(key, value);
            }
        }
    }
}
