package dev.launch.common;

import dev.launch.common.run.OffsetRanks;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OffsetRanksTest {

    @Test
    void countsTheOffsetsBeforeOneAsAQueueFillsAndDrains() {
        OffsetRanks ranks = new OffsetRanks();
        for (long offset = 0; offset < 100_000; offset += 2) { // every other offset: transaction markers
            assertTrue(ranks.add(offset));
        }
        assertEquals(50_000, ranks.size());
        assertEquals(49_999, ranks.before(99_998));
        assertEquals(50_000, ranks.before(99_999));
        assertEquals(0, ranks.before(0));
        for (long offset = 0; offset < 50_000; offset += 2) { // the agents take the first half
            assertTrue(ranks.remove(offset));
        }
        assertEquals(25_000, ranks.size());
        assertEquals(0, ranks.before(50_000));
        assertEquals(24_999, ranks.before(99_998));
        assertFalse(ranks.remove(10), "an offset already gone");
        assertFalse(ranks.add(99_998), "an offset already held");
        assertEquals(25_000, ranks.size());
        assertEquals(5, ranks.removeBefore(50_010));
        assertEquals(0, ranks.before(50_010));
    }

    @Test
    void agreesWithASortedSetUnderRandomChanges() {
        Random random = new Random(42);
        OffsetRanks ranks = new OffsetRanks();
        TreeSet<Long> expected = new TreeSet<>();
        long tail = 0;
        for (int i = 0; i < 200_000; i++) {
            int op = random.nextInt(10);
            if (op < 4) { // a new item near the tail, sometimes a little out of order
                long offset = tail + random.nextInt(5) - 2;
                tail += 1 + random.nextInt(2);
                assertEquals(expected.add(offset), ranks.add(offset));
            } else if (op < 7 && !expected.isEmpty()) { // the head leaves
                long first = expected.first();
                assertEquals(expected.remove(first), ranks.remove(first));
            } else if (op < 8) { // one leaves from anywhere, held or not
                long offset = random.nextLong(Math.max(1, tail + 3));
                assertEquals(expected.remove(offset), ranks.remove(offset));
            } else if (op < 9) { // an old offset comes back (a replay)
                long offset = random.nextLong(Math.max(1, tail + 3));
                assertEquals(expected.add(offset), ranks.add(offset));
            } else {
                long offset = random.nextLong(Math.max(1, tail + 3));
                assertEquals(expected.headSet(offset).size(), ranks.before(offset), "before " + offset);
                assertEquals(expected.contains(offset), ranks.contains(offset));
            }
            assertEquals(expected.size(), ranks.size());
        }
        long cut = tail / 2;
        int gone = expected.headSet(cut).size();
        assertEquals(gone, ranks.removeBefore(cut));
        expected.headSet(cut).clear();
        assertEquals(expected.size(), ranks.size());
        for (long offset : expected) {
            assertEquals(expected.headSet(offset).size(), ranks.before(offset));
        }
    }
}
