package dev.launch.agent.dispatch;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/** The agent's max-jobs: a run holds a slot from the moment its item is taken until it has ended. */
public class Slots {
    private final Semaphore free;

    public Slots(int max) {
        this.free = new Semaphore(max, true);
    }

    public boolean tryAcquire(long timeout, TimeUnit unit) throws InterruptedException {
        return free.tryAcquire(timeout, unit);
    }

    public void release() {
        free.release();
    }
}
