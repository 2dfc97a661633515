package dev.launch.agent.dispatch;

import org.jboss.logging.Logger;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Fault injection for tests of failover: {@code launch.agent.crash-points} ({@code LAUNCH_AGENT_CRASH_POINTS})
 * names steps of a take at which the agent halts its JVM at once, as {@code kill -9} would (no shutdown hook, no
 * goodbye), each with a probability: {@code after-claim:0.1,after-take:0.1,before-start:0.1,after-start:0.1}.
 * <ul>
 *   <li>{@code after-claim}: RunClaimed acknowledged, nothing on the command topic yet;</li>
 *   <li>{@code after-take}: RunTaken read back (the agent owns the item), the queue offset not committed;</li>
 *   <li>{@code before-start}: RunLaunching recorded and read back, the work not started;</li>
 *   <li>{@code after-start}: the work started and RUNNING reported.</li>
 * </ul>
 * Empty (the default) in production: nothing here ever runs then.
 */
public final class CrashPoints {
    private static final Logger LOG = Logger.getLogger(CrashPoints.class);
    private static volatile Map<String, Double> points = Map.of();

    private CrashPoints() {
    }

    /** Parses {@code spec} ({@code name:probability,...}); fails on an unknown step or a bad probability. */
    static void configure(String spec) {
        Map<String, Double> parsed = new HashMap<>();
        if (spec != null && !spec.isBlank()) {
            for (String part : spec.split(",")) {
                String[] kv = part.trim().split(":");
                if (kv.length != 2 || !java.util.Set.of("after-claim", "after-take", "before-start", "after-start")
                        .contains(kv[0])) {
                    throw new IllegalArgumentException("launch.agent.crash-points: '" + part + "' is not "
                            + "<after-claim|after-take|before-start|after-start>:<probability>");
                }
                double p = Double.parseDouble(kv[1]);
                if (p < 0 || p > 1) {
                    throw new IllegalArgumentException("launch.agent.crash-points: probability of " + kv[0]
                            + " must be within 0..1");
                }
                parsed.put(kv[0], p);
            }
            LOG.warnf("fault injection on: this agent halts at %s", parsed);
        }
        points = Map.copyOf(parsed);
    }

    /** Halts the JVM at {@code step} with its configured probability. */
    public static void at(String step) {
        Double p = points.get(step);
        if (p != null && ThreadLocalRandom.current().nextDouble() < p) {
            System.err.println("crash point " + step + ": halting");
            Runtime.getRuntime().halt(137);
        }
    }
}
