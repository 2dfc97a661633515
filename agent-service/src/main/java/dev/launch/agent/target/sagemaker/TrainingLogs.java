package dev.launch.agent.target.sagemaker;

import dev.launch.agent.target.TargetObserver;
import software.amazon.awssdk.services.cloudwatchlogs.CloudWatchLogsClient;
import software.amazon.awssdk.services.cloudwatchlogs.model.DescribeLogStreamsResponse;
import software.amazon.awssdk.services.cloudwatchlogs.model.GetLogEventsResponse;
import software.amazon.awssdk.services.cloudwatchlogs.model.LogStream;
import software.amazon.awssdk.services.cloudwatchlogs.model.OutputLogEvent;
import software.amazon.awssdk.services.cloudwatchlogs.model.ResourceNotFoundException;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The output of one training job in CloudWatch Logs: every stream of log group {@code /aws/sagemaker/TrainingJobs}
 * whose name starts with {@code <job>/} (the slash matters: {@code launch-x-1} is a prefix of {@code launch-x-10}),
 * one per instance ({@code algo-1-<epoch>}), each read forward by its token until the token comes back (the end,
 * for now), and every page of the stream list too.
 *
 * <p>A line's position is its event's timestamp in milliseconds times 1,000 plus its index among the stream's
 * events of that millisecond, so positions grow within a stream, and an adopter resumes from the millisecond of
 * the last shipped line ({@code startTime}) and drops what it has. Each stream is the lines' source (positions are
 * stored per source, so streams read one after the other lose nothing); a job of several instances says the
 * instance in each line's text. Not thread-safe: one poller reads it.
 */
final class TrainingLogs {
    static final String GROUP = "/aws/sagemaker/TrainingJobs";
    /** pages of one stream per read at most: a stream far behind catches up over several reads */
    private static final int MAX_PAGES = 50;

    private final String job;
    private final TargetObserver observer;
    private final long after;
    private final boolean prefixed;
    private final Map<String, Cursor> streams = new LinkedHashMap<>();
    /** when a read last brought a new line (ms), and how many lines have been shipped */
    long lastNewLine;
    long shipped;
    /** when the streams were last listed (ms); listed again every {@link #RELIST_MS}, or when asked */
    private long listedAt = -1;
    private boolean relist;
    static final long RELIST_MS = 30_000;

    private static final class Cursor {
        final String source;
        String token;
        long last;
        long lastTimestamp = -1;
        int sameMillisecond;

        Cursor(String source, long last) {
            this.source = source;
            this.last = last;
        }
    }

    /**
     * @param after    positions at or below this were shipped already ({@code -1}: none)
     * @param prefixed whether each line says its instance ({@code [algo-2-1700000000] ...}): a job of several
     */
    TrainingLogs(String job, TargetObserver observer, long after, boolean prefixed) {
        this.job = job;
        this.observer = observer;
        this.after = after;
        this.prefixed = prefixed;
    }

    /** The streams are listed again on the next read (the job ended: a stream made late is found). */
    void relist() {
        relist = true;
    }

    /**
     * Reads what is new in every stream; returns the CloudWatch calls made. The streams are listed until one is
     * found, then every 30 s (an instance's stream appears when it starts) and once more after the job ended.
     */
    int read(CloudWatchLogsClient logs) {
        int calls = 0;
        long now = System.currentTimeMillis();
        if (streams.isEmpty() || relist || now - listedAt >= RELIST_MS) {
            calls += list(logs);
            relist = false;
            listedAt = now;
        }
        for (Map.Entry<String, Cursor> e : streams.entrySet()) {
            calls += read(logs, e.getKey(), e.getValue());
        }
        return calls;
    }

    private int list(CloudWatchLogsClient logs) {
        int calls = 0;
        String next = null;
        do {
            DescribeLogStreamsResponse page;
            try {
                String token = next;
                page = logs.describeLogStreams(r -> r.logGroupName(GROUP).logStreamNamePrefix(job + "/")
                        .nextToken(token));
            } catch (ResourceNotFoundException e) {
                return calls + 1; // no job of the account has written a line yet
            }
            calls++;
            for (LogStream s : page.logStreams()) {
                streams.computeIfAbsent(s.logStreamName(), name -> new Cursor(name.substring(job.length() + 1), after));
            }
            next = page.nextToken();
        } while (next != null && !next.isEmpty());
        return calls;
    }

    private int read(CloudWatchLogsClient logs, String stream, Cursor c) {
        int calls = 0;
        while (calls < MAX_PAGES) {
            String token = c.token;
            long startTime = c.last < 0 ? 0 : c.last / 1000;
            GetLogEventsResponse page;
            try {
                page = logs.getLogEvents(r -> {
                    r.logGroupName(GROUP).logStreamName(stream).startFromHead(true);
                    if (token != null) {
                        r.nextToken(token);
                    } else if (startTime > 0) {
                        r.startTime(startTime);
                    }
                });
            } catch (ResourceNotFoundException e) {
                return calls + 1;
            }
            calls++;
            for (OutputLogEvent event : page.events()) {
                long ts = event.timestamp() == null ? 0 : event.timestamp();
                c.sameMillisecond = ts == c.lastTimestamp ? c.sameMillisecond + 1 : 0;
                c.lastTimestamp = ts;
                long position = ts * 1000 + Math.min(c.sameMillisecond, 999);
                if (position <= c.last) {
                    continue; // shipped already, by this agent or the one before
                }
                c.last = position;
                String message = event.message() == null ? "" : event.message();
                if (message.endsWith("\n")) {
                    message = message.substring(0, message.length() - 1);
                }
                observer.output("stdout", c.source, prefixed ? "[" + c.source + "] " + message : message, position);
                shipped++;
                lastNewLine = System.currentTimeMillis();
            }
            String forward = page.nextForwardToken();
            boolean end = forward == null || forward.equals(token);
            c.token = forward;
            if (end) {
                return calls;
            }
        }
        return calls; // the rest on the next read
    }
}
