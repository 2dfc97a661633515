package dev.launch.common.run;

import java.util.Arrays;

/**
 * The offsets of the items waiting on one queue level, in order, answering "how many wait before this one" in
 * O(log n) however deep the queue is. Items join near the tail and leave near the head (a queue is FIFO), so
 * both are cheap: a sorted array with a moving head, grown or compacted as needed; an insertion or removal in
 * the middle (a run stopped while queued, one that arrived out of order) moves only the part after it. Adding an
 * offset already held or removing one not held changes nothing, so replaying a change is harmless.
 * Not thread-safe.
 */
public final class OffsetRanks {
    private long[] offsets = new long[16];
    private int head;
    private int size;

    /** Adds {@code offset}; false when it was already held. */
    public boolean add(long offset) {
        int at = search(offset);
        if (at >= 0) {
            return false;
        }
        int index = -at - 1; // absolute index in the array
        if (index == head + size && head + size < offsets.length) {
            offsets[index] = offset; // the common case: a new item at the tail
            size++;
            return true;
        }
        if (index == head && head > 0) {
            offsets[--head] = offset;
            size++;
            return true;
        }
        if (head + size == offsets.length) {
            int shift = head;
            compactOrGrow();
            index -= shift;
        }
        System.arraycopy(offsets, index, offsets, index + 1, head + size - index);
        offsets[index] = offset;
        size++;
        return true;
    }

    /** Removes {@code offset}; false when it was not held. */
    public boolean remove(long offset) {
        int at = search(offset);
        if (at < 0) {
            return false;
        }
        if (at == head) {
            head++; // the common case: the oldest item left
        } else {
            System.arraycopy(offsets, at + 1, offsets, at, head + size - at - 1);
        }
        size--;
        if (size == 0) {
            head = 0;
        }
        return true;
    }

    /** How many held offsets are lower than {@code offset} (held or not). */
    public int before(long offset) {
        int at = search(offset);
        return (at >= 0 ? at : -at - 1) - head;
    }

    /** Removes every offset lower than {@code offset}; how many went. */
    public int removeBefore(long offset) {
        int gone = before(offset);
        head += gone;
        size -= gone;
        if (size == 0) {
            head = 0;
        }
        return gone;
    }

    public boolean contains(long offset) {
        return search(offset) >= 0;
    }

    public int size() {
        return size;
    }

    private int search(long offset) {
        return Arrays.binarySearch(offsets, head, head + size, offset);
    }

    /** Makes room at the tail: moves the items to the front when half the array is free, else doubles it. */
    private void compactOrGrow() {
        long[] target = size * 2 <= offsets.length ? offsets : new long[offsets.length * 2];
        System.arraycopy(offsets, head, target, 0, size);
        offsets = target;
        head = 0;
    }
}
