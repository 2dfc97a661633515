package dev.launch.agent.target.kubernetes;

import dev.launch.agent.target.TargetObserver;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.LogWatch;
import org.jboss.logging.Logger;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The output of one pod's main container, followed with timestamps ({@code follow=true}, read by the HTTP
 * client's own threads as it arrives: no thread waits per pod). A line's position is its timestamp in
 * nanoseconds, so an adopter that resumes reads from the second of the last stored line ({@code sinceTime}) and
 * drops what it has (a line stamped with the very nanosecond of the last one is taken as read). A pod of a
 * multi-pod workload names itself as the lines' source: positions are in order per pod, and stored per pod.
 *
 * <p>A follow that ends while the container runs (the API server closed it) is opened again from there, after
 * 1 s, up to 10 s while follows bring nothing new. When the attempt ends, one last read takes what the follow had
 * not delivered yet, the last lines of a crashed container included.
 */
final class PodLogs {
    private static final Logger LOG = Logger.getLogger(PodLogs.class);

    private final KubernetesClient client;
    private final String namespace;
    private final String pod;
    private final String container;
    private final TargetObserver observer;
    private final ScheduledExecutorService scheduler;
    private final boolean prefixPod;
    /** positions at or below this were shipped already (by this agent or an earlier owner) */
    private long last;
    private LogWatch follow;
    private boolean closed;
    /** the pause before a follow is opened again: doubled while follows bring nothing new, up to 10 s */
    private long reopenMs = 1000;
    private long lastAtOpen;

    PodLogs(KubernetesClient client, String namespace, String pod, String container, long after,
            TargetObserver observer, ScheduledExecutorService scheduler, boolean prefixPod) {
        this.client = client;
        this.namespace = namespace;
        this.pod = pod;
        this.container = container;
        this.last = after;
        this.observer = observer;
        this.scheduler = scheduler;
        this.prefixPod = prefixPod;
    }

    long lastPosition() {
        return last;
    }

    /** Follows the output from the last position on. */
    synchronized void follow() {
        if (closed || follow != null) {
            return;
        }
        try {
            lastAtOpen = last;
            follow = client.pods().inNamespace(namespace).withName(pod).inContainer(container).usingTimestamps()
                    .sinceTime(since()).watchLog(new Lines());
            LogWatch mine = follow;
            mine.onClose().whenComplete((error, e) -> ended(mine));
        } catch (RuntimeException e) {
            LOG.debugf("following the output of pod %s failed (%s); trying again", pod, e.toString());
            follow = null;
            scheduler.schedule(this::follow, 2, TimeUnit.SECONDS);
        }
    }

    /** A follow ended; unless the attempt ended, open another one from where it stopped after a pause. */
    private synchronized void ended(LogWatch which) {
        if (follow == which) {
            follow = null;
        }
        if (!closed) {
            // an API server keeps a follow open while the container runs; one that closed it at once without a
            // new line is asked again less often
            reopenMs = last > lastAtOpen ? 1000 : Math.min(10_000, reopenMs * 2);
            scheduler.schedule(this::follow, reopenMs, TimeUnit.MILLISECONDS);
        }
    }

    /** The attempt ended: stops following and reads what is left, then emits nothing more. */
    synchronized void finish() {
        if (closed) {
            return;
        }
        closed = true;
        if (follow != null) {
            follow.close();
            follow = null;
        }
        try {
            String rest = client.pods().inNamespace(namespace).withName(pod).inContainer(container).usingTimestamps()
                    .sinceTime(since()).getLog();
            if (rest != null) {
                rest.lines().forEach(this::line);
            }
        } catch (RuntimeException e) {
            LOG.infof("the last output of pod %s could not be read: %s", pod, e.toString());
        }
    }

    /** Stops without reading more (the agent lets go of the run). */
    synchronized void close() {
        closed = true;
        if (follow != null) {
            follow.close();
            follow = null;
        }
    }

    private String since() {
        if (last < 0) {
            return "1970-01-01T00:00:00Z";
        }
        return Instant.EPOCH.plusNanos(last).truncatedTo(ChronoUnit.SECONDS).toString();
    }

    /** One {@code <RFC 3339 timestamp> <text>} line of the API server's answer. */
    private synchronized void line(String raw) {
        if (raw.isEmpty()) {
            return;
        }
        int space = raw.indexOf(' ');
        long at;
        String text;
        try {
            Instant stamp = Instant.parse(space < 0 ? raw : raw.substring(0, space));
            at = ChronoUnit.NANOS.between(Instant.EPOCH, stamp);
            text = space < 0 ? "" : raw.substring(space + 1);
        } catch (DateTimeParseException e) {
            at = last + 1;
            text = raw;
        }
        if (at <= last) {
            return; // read before (a resumed follow starts at the second of the last line)
        }
        last = at;
        if (prefixPod) {
            observer.output("stdout", pod, "[" + pod + "] " + text, at);
        } else {
            observer.output("stdout", text, at);
        }
    }

    /** Splits the follow's bytes into lines. */
    private final class Lines extends OutputStream {
        private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

        @Override
        public void write(int b) {
            if (b == '\n') {
                String raw = pending.toString(StandardCharsets.UTF_8);
                pending.reset();
                synchronized (PodLogs.this) {
                    if (!closed) {
                        line(raw);
                    }
                }
            } else {
                pending.write(b);
            }
        }

        @Override
        public void write(byte[] bytes, int off, int len) {
            for (int i = off; i < off + len; i++) {
                write(bytes[i]);
            }
        }
    }
}
