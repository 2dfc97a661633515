package dev.launch.queue.repository;

import io.quarkus.hibernate.reactive.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;

import java.time.Instant;

/** A run this service accepted and the answer it gave (replayed for a retried idempotency key). */
@Entity
@Table(name = "enqueued_run")
public class EnqueuedRunEntity extends PanacheEntityBase {
    @Id
    @Column(name = "run_id")
    public String runId;
    @Column(nullable = false)
    public String queue;
    @Column(name = "idempotency_key")
    public String idempotencyKey;
    /** offset of the run's item in {@code launch.queue.<queue>}, once written */
    @Column(name = "queue_offset")
    public Long queueOffset;
    @Column(nullable = false, columnDefinition = "text")
    public String response;
    @Column(name = "created_at", nullable = false)
    public Instant createdAt;

    /** Accepted runs of {@code queue} whose items lie in {@code [from, to)}. */
    public static io.smallrye.mutiny.Uni<Long> countBetween(String queue, long from, long to) {
        return count("queue = ?1 and queueOffset >= ?2 and queueOffset < ?3", queue, from, to);
    }

    public static io.smallrye.mutiny.Uni<EnqueuedRunEntity> findByKey(String queue, String key) {
        return find("queue = ?1 and idempotencyKey = ?2", queue, key).firstResult();
    }
}
