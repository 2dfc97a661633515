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
}
