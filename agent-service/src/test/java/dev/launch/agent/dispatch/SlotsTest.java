package dev.launch.agent.dispatch;

import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SlotsTest {

    @Test
    void slotsGoStrictlyInLineOrderEvenToAQueueThatStepsAway() throws Exception {
        Slots slots = new Slots(1);
        Slots.Ticket deep = slots.line();
        assertTrue(deep.await(0, TimeUnit.MILLISECONDS));
        assertEquals(0, slots.free());
        Slots.Ticket shallow = slots.line(); // waits, then steps away to poll its consumer
        Slots.Ticket deepAgain = slots.line();
        slots.release();
        // the deep queue asks while the shallow one is away: the slot is the shallow one's
        assertFalse(deepAgain.await(0, TimeUnit.MILLISECONDS));
        assertTrue(shallow.await(0, TimeUnit.MILLISECONDS));
        slots.release();
        assertTrue(deepAgain.await(0, TimeUnit.MILLISECONDS));
    }

    @Test
    void aQueueThatLeavesTheLineGivesUpItsPlace() throws Exception {
        Slots slots = new Slots(1);
        Slots.Ticket first = slots.line();
        Slots.Ticket second = slots.line();
        first.leave();
        assertTrue(second.await(0, TimeUnit.MILLISECONDS));
        assertEquals(0, slots.free());
    }

    @Test
    void aWaiterIsWokenWhenASlotIsReleased() throws Exception {
        Slots slots = new Slots(1);
        assertTrue(slots.line().await(0, TimeUnit.MILLISECONDS));
        Slots.Ticket waiting = slots.line();
        Thread releaser = new Thread(slots::release);
        releaser.start();
        assertTrue(waiting.await(10, TimeUnit.SECONDS));
        releaser.join();
    }

    @Test
    void aBatchTakesMoreSlotsOnlyWhenNoOtherQueueWaits() throws Exception {
        Slots slots = new Slots(4);
        assertTrue(slots.line().await(0, TimeUnit.MILLISECONDS));
        assertEquals(2, slots.tryMore(2));
        assertEquals(1, slots.free());
        Slots.Ticket other = slots.line();
        assertEquals(0, slots.tryMore(5), "another queue waits in line: no jumping it");
        other.leave();
        assertEquals(1, slots.tryMore(5), "never more than are free");
        assertEquals(0, slots.free());
    }

    @Test
    void aHandedRunGoesFirstInLineAndANudgeWakesAHolderThatMayHandItsItemOn() throws Exception {
        Slots slots = new Slots(1);
        java.util.concurrent.atomic.AtomicInteger changes = new java.util.concurrent.atomic.AtomicInteger();
        slots.onAvailability(changes::incrementAndGet);
        assertTrue(slots.tryTake());
        assertEquals(1, changes.get(), "full: the peers are told");
        Slots.Ticket own = slots.line();
        Slots.Ticket handed = slots.lineFirst();
        java.util.concurrent.CompletableFuture<Boolean> waiting = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> {
                    try {
                        return own.awaitUnlessNudged(30, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                });
        while (!waiting.isDone()) {
            slots.nudge(); // a peer has a free slot now: the waiter returns without one, keeping its place
            Thread.onSpinWait();
        }
        assertFalse(waiting.get());
        slots.release();
        assertEquals(2, changes.get(), "free again: the peers are told");
        assertFalse(own.await(0, TimeUnit.MILLISECONDS), "the handed run is first in line");
        assertTrue(handed.await(0, TimeUnit.MILLISECONDS));
        assertEquals(3, changes.get());
        slots.release();
        assertTrue(own.await(0, TimeUnit.MILLISECONDS));
    }
}
