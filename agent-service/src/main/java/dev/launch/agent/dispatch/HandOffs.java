package dev.launch.agent.dispatch;

import dev.launch.common.event.RunTaken;
import io.micrometer.core.instrument.Counter;
import org.jboss.logging.Logger;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The runs other agents' queue holders hand to this agent (ADR 0005). Each hand-off is read from
 * {@code launch.run-commands} by the agent's command reader; one meant for this agent's incarnation gets a slot
 * at once when one is free (on the reader's thread, so none of the agent's own queues takes it first), else the
 * first place in the slot line, and then the ledger's verdict, exactly like a take of the agent's own. The
 * agent's statuses say which hand-offs it has read ({@link #recent}) and count those waiting for a slot
 * against its free slots ({@link #freeSlots}), so a holder never offers one slot twice.
 */
public class HandOffs implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(HandOffs.class);
    /** how many hand-offs read the statuses list */
    static final int RECENT = 32;

    private final String agentId;
    private final Instant incarnation;
    private final Slots slots;
    private final Verdicts verdicts;
    private final Runnable statusSoon;
    private final Counter received;
    private final ArrayDeque<String> recent = new ArrayDeque<>();
    private final ExecutorService launcher = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "hand-off");
        t.setDaemon(true);
        return t;
    });
    /** hand-offs read that hold no slot yet */
    private int waiting;
    private volatile boolean running = true;

    HandOffs(String agentId, Instant incarnation, Slots slots, Verdicts verdicts, Runnable statusSoon,
             Counter received) {
        this.agentId = agentId;
        this.incarnation = incarnation;
        this.slots = slots;
        this.verdicts = verdicts;
        this.statusSoon = statusSoon;
        this.received = received;
    }

    /** Called on the command reader's thread with every hand-off it reads (for any agent). */
    void read(RunTaken take) {
        if (!running || !agentId.equals(take.agentId()) || take.incarnation() == null
                || take.incarnation().toEpochMilli() != incarnation.toEpochMilli()) {
            return; // another agent's, or this agent's predecessor's (the status service hands those back)
        }
        synchronized (this) {
            if (recent.contains(take.runId() + "/" + take.itemId())) {
                return; // the holder's take written twice (a retry after a lost acknowledgement)
            }
            recent.addLast(take.runId() + "/" + take.itemId());
            while (recent.size() > RECENT) {
                recent.removeFirst();
            }
            waiting++;
        }
        received.increment();
        if (slots.tryTake()) {
            holding();
            launcher.execute(() -> launch(take));
        } else {
            dev.launch.messaging.RunLog.infof(LOG, take.runId(), take.queue(), take.agentId(),
                    "run %s was handed to this agent by %s while no slot is free; it waits first in line",
                    take.runId(), take.handedBy());
            Slots.Ticket ticket = slots.lineFirst();
            launcher.execute(() -> {
                try {
                    while (running) {
                        if (ticket.await(500, TimeUnit.MILLISECONDS)) {
                            holding();
                            launch(take);
                            return;
                        }
                    }
                    ticket.leave();
                } catch (InterruptedException e) {
                    ticket.leave();
                    Thread.currentThread().interrupt();
                }
            });
        }
        statusSoon.run();
    }

    private synchronized void holding() {
        waiting--;
    }

    private void launch(RunTaken take) {
        try {
            if (!verdicts.launchIfOurs(take.request(), take.itemId())) {
                slots.release();
            }
        } catch (RuntimeException e) {
            try (dev.launch.messaging.RunLog.Scope ignored = dev.launch.messaging.RunLog.scope(take.runId(),
                    take.queue(), take.agentId())) {
                LOG.errorf(e, "launching run %s handed over by %s failed", take.runId(), take.handedBy());
            }
            slots.release();
        }
    }

    /**
     * What a status states, taken together: the free slots less the hand-offs read that wait for one, and the
     * runs of the hand-offs read most recently.
     */
    synchronized View view() {
        return new View(Math.max(0, slots.free() - waiting),
                recent.stream().map(key -> key.substring(0, key.indexOf('/'))).toList());
    }

    /** Free slots and hand-offs read, as one status states them. */
    record View(int freeSlots, List<String> read) {
    }

    @Override
    public void close() {
        running = false;
        launcher.shutdown();
    }
}
