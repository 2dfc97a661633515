package dev.launch.status.repository;

import dev.launch.common.naming.RunIds;
import dev.launch.common.run.RunState;
import dev.launch.devstack.LaunchTestInfra;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The in-memory queue index as a restarted status service builds it: from the rows already in the read model
 * (here written straight to the table, as an earlier process would have left them), then kept up by changes.
 */
@QuarkusTest
@QuarkusTestResource(value = LaunchTestInfra.class, initArgs = @ResourceArg(name = "database", value = "status"))
class QueueIndexTest {
    @Inject
    Pool pool;

    @Test
    void loadsWhatTheReadModelHoldsThenFollowsChanges() {
        String plain = "qi-plain-" + RunIds.next().substring(0, 8);
        String levelled = "qi-levels-" + RunIds.next().substring(0, 8);
        for (long offset = 10; offset <= 18; offset += 2) { // markers take the odd offsets
            row(plain, "QUEUED", null, 0, offset);
        }
        row(plain, "FINISHED", null, 0, 2);
        row(plain, "FINISHED", null, 0, 4);
        row(plain, "RUNNING", null, 0, 6);
        row(levelled, "QUEUED", "critical", 0, 3);
        row(levelled, "QUEUED", "high", 1, 5);
        row(levelled, "QUEUED", "high", 1, 9);
        row(levelled, "QUEUED", "low", 3, 1);

        QueueIndex index = new QueueIndex();
        index.pool = pool;
        index.ready().await().atMost(Duration.ofSeconds(30));

        assertEquals(Map.of("QUEUED", 5L, "FINISHED", 2L, "RUNNING", 1L), index.states(plain));
        assertArrayEquals(new long[] {0, 3}, index.ahead(plain, 0, 16));
        assertArrayEquals(new long[] {0, 0}, index.ahead(plain, 0, 10));
        assertFalse(index.levelled(plain));
        assertTrue(index.levelled(levelled));
        assertArrayEquals(new long[] {1, 1}, index.ahead(levelled, 1, 9), "the critical run, then the older high one");
        assertArrayEquals(new long[] {3, 0}, index.ahead(levelled, 3, 1));
        assertArrayEquals(new long[] {1, 2, 0, 1}, index.queuedByRank(levelled));

        // the agents take the first plain run; a high run is moved to critical as a new item
        index.changed(plain, RunState.QUEUED, 0, 10L, RunState.CLAIMED, null, 10L);
        index.changed(levelled, RunState.QUEUED, 1, 5L, RunState.QUEUED, "critical", 7L);
        assertArrayEquals(new long[] {0, 2}, index.ahead(plain, 0, 16));
        assertEquals(Map.of("QUEUED", 4L, "CLAIMED", 1L, "FINISHED", 2L, "RUNNING", 1L), index.states(plain));
        assertArrayEquals(new long[] {2, 0}, index.ahead(levelled, 1, 9));
        assertArrayEquals(new long[] {2, 1, 0, 1}, index.queuedByRank(levelled));
        // a new run joins the tail
        index.changed(plain, null, 0, null, RunState.QUEUED, null, 20L);
        assertArrayEquals(new long[] {0, 5}, index.ahead(plain, 0, 21));
    }

    private void row(String queue, String state, String priority, int rank, long offset) {
        OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
        pool.preparedQuery("INSERT INTO run (run_id, queue, state, queue_offset, priority, priority_rank, created_at, "
                        + "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)")
                .execute(Tuple.tuple().addString(RunIds.next()).addString(queue).addString(state).addLong(offset)
                        .addString(priority).addShort((short) rank).addOffsetDateTime(now))
                .await().atMost(Duration.ofSeconds(10));
    }
}
