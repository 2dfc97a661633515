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
    /** the run's level on a queue with priorities, else null */
    public String priority;
    @Column(nullable = false, columnDefinition = "text")
    public String response;
    @Column(name = "created_at", nullable = false)
    public Instant createdAt;
}
