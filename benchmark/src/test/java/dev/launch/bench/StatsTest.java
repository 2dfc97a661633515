package dev.launch.bench;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StatsTest {
    @Test
    void percentilesAreNearestRank() {
        Stats stats = Stats.of(IntStream.rangeClosed(1, 100).mapToObj(i -> (double) i).toList());
        assertEquals(50.0, stats.p50());
        assertEquals(95.0, stats.p95());
        assertEquals(99.0, stats.p99());
        assertEquals(100.0, stats.max());
        Stats small = Stats.of(List.of(7.0, 1.0, 3.0));
        assertEquals(3.0, small.p50());
        assertEquals(7.0, small.p99());
    }

    @Test
    void anEmptySampleSaysSo() {
        assertEquals(0, Stats.of(List.of()).count());
        assertEquals("n/a", Stats.of(List.of()).ms());
    }

    @Test
    void theTableAndThePageHoldEveryRow() {
        Report report = new Report();
        report.row("A", "first", "1 ms", "note one");
        report.row("A", "second", "2 ms", "");
        report.row("B", "third", "3 runs/s", "note three");
        String table = report.table();
        String page = report.markdown("2 cores", "- none");
        for (String text : List.of("first", "second", "third", "1 ms", "3 runs/s", "note three")) {
            assertTrue(table.contains(text), text);
            assertTrue(page.contains(text), text);
        }
        assertTrue(page.contains("### A") && page.contains("### B") && page.contains("2 cores"));
    }

    @Test
    void cpuTimeIsUserPlusSystemTicksOfAProcStatLine() {
        // pid (comm with spaces) state ppid ... utime=1234 stime=66 ...
        String stat = "4242 (java (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 66 0 0 20 0 40 0 100 1 2";
        assertEquals(13_000, CpuMeter.millis(stat));
        assertTrue(CpuMeter.between(java.util.Map.of("a", 5L), java.util.Map.of("a", 12L)).get("a") == 7L);
    }
}
