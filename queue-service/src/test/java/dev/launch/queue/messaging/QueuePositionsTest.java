package dev.launch.queue.messaging;

import dev.launch.common.run.Priority;
import dev.launch.devstack.LaunchTestInfra;
import dev.launch.queue.FakeJobService;
import dev.launch.queue.repository.EnqueueStore;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.ResourceArg;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The 202's position after a restart: a queue service that starts finds the runs accepted before it in
 * {@code enqueued_run} and counts them, and drops those the agents have passed.
 */
@QuarkusTest
@QuarkusTestResource(value = LaunchTestInfra.class, initArgs = @ResourceArg(name = "database", value = "queues"))
@QuarkusTestResource(FakeJobService.class)
class QueuePositionsTest {
    @Inject
    EnqueueStore store;

    @Test
    void aRestartedServiceCountsTheRunsAcceptedBeforeIt() {
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        String job = "pos-" + suffix;
        FakeJobService.register(job, 1, """
                {"name":"%s","version":1,"digest":"sha256:%s","source":{"type":"image","image":"busybox:1"},
                 "entrypoint":["true"],"inputs":{"schema":{"type":"object"},"defaults":{}},
                 "createdAt":"2026-01-01T00:00:00Z"}""".formatted(job, "b".repeat(64)));
        String plain = queue("pos-plain-" + suffix, "");
        String levelled = queue("pos-levels-" + suffix, ",\"prioritization\":true");
        for (int i = 0; i < 3; i++) {
            assertEquals(i, enqueue(plain, job, null), "positions as the running service answers them");
        }
        enqueue(levelled, job, "high");
        enqueue(levelled, job, "high");
        enqueue(levelled, job, "low");

        QueuePositions restarted = new QueuePositions();
        restarted.store = store;
        Map<Priority, Long> none = new HashMap<>();
        assertEquals(3, ahead(restarted, plain, null, Long.MAX_VALUE, none), "the three runs queued before");
        Map<Priority, Long> passed = new HashMap<>();
        passed.put(null, 4L); // the agents took the first two items (offsets 0 and 2: each transaction adds a marker)
        assertEquals(1, ahead(restarted, plain, null, Long.MAX_VALUE, passed));
        assertEquals(1, ahead(restarted, plain, null, Long.MAX_VALUE, none), "items passed are gone for good");
        assertEquals(2, ahead(restarted, levelled, Priority.MEDIUM, 0, none), "both high runs go first");
        assertEquals(3, ahead(restarted, levelled, Priority.LOW, Long.MAX_VALUE, none));
        assertEquals(0, ahead(restarted, levelled, Priority.CRITICAL, Long.MAX_VALUE, none));
    }

    private static long ahead(QueuePositions positions, String queue, Priority own, long offset,
                              Map<Priority, Long> next) {
        return positions.ahead(queue, own, offset, next).await().atMost(Duration.ofSeconds(10));
    }

    private static String queue(String name, String extra) {
        return given().contentType(ContentType.JSON).body("{\"name\":\"" + name
                        + "\",\"target\":{\"type\":\"noop\"}" + extra + "}")
                .when().post("/api/v1/queues").then().statusCode(201).extract().path("name");
    }

    private static int enqueue(String queue, String job, String priority) {
        return given().contentType(ContentType.JSON).body("{\"job\":\"" + job + "\"" + (priority == null ? ""
                        : ",\"priority\":\"" + priority + "\"") + "}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("position");
    }
}
