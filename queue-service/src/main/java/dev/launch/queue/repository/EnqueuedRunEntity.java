package dev.launch.queue.repository;

import io.quarkus.hibernate.reactive.panache.PanacheEntityBase;
import dev.launch.common.run.Priority;
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

    /**
     * Accepted runs ahead of a run at {@code offset} of level {@code priority} (null: a queue without levels):
     * those of its own level from the agents' next offset {@code next.get(priority)} up to its own, and every
     * one of a higher level from that level's next offset on.
     */
    public static io.smallrye.mutiny.Uni<Long> countAhead(String queue, String priority, long offset,
                                                          java.util.Map<Priority, Long> next) {
        Priority own = Priority.parse(priority).orElse(null);
        if (own == null) {
            return count("queue = ?1 and queueOffset >= ?2 and queueOffset < ?3", queue,
                    next.getOrDefault(null, 0L), offset);
        }
        StringBuilder query = new StringBuilder("queue = ?1 and ((priority = ?2 and queueOffset >= ?3 and "
                + "queueOffset < ?4)");
        java.util.List<Object> params = new java.util.ArrayList<>(java.util.List.of(queue, own.label(),
                next.getOrDefault(own, 0L), offset));
        for (Priority higher : Priority.values()) {
            if (higher.rank() < own.rank()) {
                params.add(higher.label());
                params.add(next.getOrDefault(higher, 0L));
                query.append(" or (priority = ?").append(params.size() - 1).append(" and queueOffset >= ?")
                        .append(params.size()).append(")");
            }
        }
        return count(query.append(")").toString(), params.toArray());
    }

    public static io.smallrye.mutiny.Uni<EnqueuedRunEntity> findByKey(String queue, String key) {
        return find("queue = ?1 and idempotencyKey = ?2", queue, key).firstResult();
    }
}
