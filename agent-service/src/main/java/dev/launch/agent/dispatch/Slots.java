package dev.launch.agent.dispatch;

import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The agent's max-jobs: a run holds a slot from the moment its item is taken until it has ended. Queues that
 * have an item in hand wait in one line ({@link #line()}) and get slots strictly in the order they joined it,
 * keeping their place while they step away to serve their consumer; so queues with work take turns and a deep
 * queue cannot starve a shallow one.
 */
public class Slots {
    private final int max;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<Ticket> line = new ArrayDeque<>();
    private int used;
    private long lastTakenAt;
    /** counts {@link #nudge}s, so a waiter can tell one happened */
    private long nudges;
    private volatile Runnable onAvailability = () -> { };

    public Slots(int max) {
        this.max = max;
    }

    /**
     * Called (outside the lock) each time the free slots go from none to some or from some to none: what peers
     * of a shared queue must learn at once (ADR 0005).
     */
    public void onAvailability(Runnable callback) {
        this.onAvailability = callback;
    }

    /** Wakes the tickets waiting in {@link Ticket#awaitUnlessNudged}: something else may serve them now. */
    public void nudge() {
        lock.lock();
        try {
            nudges++;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * A place at the head of the line: for a run handed to this agent (ADR 0005), which is claimed already and
     * goes before the items its own queues hold.
     */
    public Ticket lineFirst() {
        Ticket ticket = new Ticket();
        lock.lock();
        try {
            line.addFirst(ticket);
        } finally {
            lock.unlock();
        }
        return ticket;
    }

    /** A place at the end of the line. */
    public Ticket line() {
        Ticket ticket = new Ticket();
        lock.lock();
        try {
            line.addLast(ticket);
        } finally {
            lock.unlock();
        }
        return ticket;
    }

    /**
     * Up to {@code wanted} more slots for a queue that just got one through the line, if no other queue is
     * waiting in it (so a batch never jumps the line); returns how many it got.
     */
    public int tryMore(int wanted) {
        boolean full = false;
        lock.lock();
        try {
            if (!line.isEmpty()) {
                return 0;
            }
            int got = Math.max(0, Math.min(wanted, max - used));
            used += got;
            full = got > 0 && used == max;
            return got;
        } finally {
            lock.unlock();
            if (full) {
                onAvailability.run();
            }
        }
    }

    /**
     * A slot now if one is free, ahead of the line: for work that already runs (an adoption), which should be
     * watched before new work starts.
     */
    public boolean tryTake() {
        boolean full = false;
        lock.lock();
        try {
            if (used >= max) {
                return false;
            }
            used++;
            full = used == max;
            lastTakenAt = System.currentTimeMillis();
            return true;
        } finally {
            lock.unlock();
            if (full) {
                onAvailability.run();
            }
        }
    }

    /** A slot is free again. */
    public void release() {
        boolean freed;
        lock.lock();
        try {
            freed = used == max;
            used--;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        if (freed) {
            onAvailability.run();
        }
    }

    /** Slots free now (what the agent offers its queues' groups). */
    public int free() {
        lock.lock();
        try {
            return max - used;
        } finally {
            lock.unlock();
        }
    }

    /** When a slot was last taken (epoch millis; 0 = never): agents idle longest get shared queues first. */
    public long lastTakenAt() {
        lock.lock();
        try {
            return lastTakenAt;
        } finally {
            lock.unlock();
        }
    }

    /** One queue's place in the line for a slot. */
    public final class Ticket {
        private Ticket() {
        }

        /**
         * Waits up to {@code timeout} for a slot; true when this ticket got one (and left the line), false
         * when the time is up (it keeps its place).
         */
        public boolean await(long timeout, TimeUnit unit) throws InterruptedException {
            return await(timeout, unit, false);
        }

        /**
         * As {@link #await}, but also returns false (keeping the place) as soon as {@link #nudge} is called:
         * for a holder that may hand its item to a peer instead.
         */
        public boolean awaitUnlessNudged(long timeout, TimeUnit unit) throws InterruptedException {
            return await(timeout, unit, true);
        }

        private boolean await(long timeout, TimeUnit unit, boolean nudgeable) throws InterruptedException {
            long nanos = unit.toNanos(timeout);
            boolean full = false;
            lock.lock();
            try {
                long seen = nudges;
                while (used >= max || line.peekFirst() != this) {
                    if (nanos <= 0 || (nudgeable && nudges != seen)) {
                        return false;
                    }
                    nanos = changed.awaitNanos(nanos);
                }
                line.removeFirst();
                used++;
                full = used == max;
                lastTakenAt = System.currentTimeMillis();
                changed.signalAll();
                return true;
            } finally {
                lock.unlock();
                if (full) {
                    onAvailability.run();
                }
            }
        }

        /** Gives up the place (the queue no longer has an item in hand). */
        public void leave() {
            lock.lock();
            try {
                if (line.remove(this)) {
                    changed.signalAll();
                }
            } finally {
                lock.unlock();
            }
        }
    }
}
