package dev.launch.agent.dispatch;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/** The agent's max-jobs: a run holds a slot from the moment its item is taken until it has ended. */
public class Slots {
    private final Semaphore free;
    private final int max;

    public Slots(int max) {
        this.max = max;
        this.free = new Semaphore(max, true);
    }

    public boolean tryAcquire(long timeout, TimeUnit unit) throws InterruptedException {
        return free.tryAcquire(timeout, unit);
    }

    public void release() {
        free.release();
    }

    public int inUse() {
        return max - free.availablePermits();
    }
}
