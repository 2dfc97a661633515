package dev.launch.queue.repository;

import io.quarkus.hibernate.reactive.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;

import java.time.Instant;

/** A queue: its name and its definition ({@link dev.launch.common.event.QueueChanged}) as JSON. */
@Entity
@Table(name = "queue")
public class QueueEntity extends PanacheEntityBase {
    @Id
    public String name;
    @Column(nullable = false, columnDefinition = "text")
    public String document;
    /** the target's type, for filtering lists */
    @Column(name = "target_type", nullable = false)
    public String targetType;
    /** whether runs carry a priority, for filtering lists (fixed at creation) */
    @Column(nullable = false)
    public boolean prioritization;
    @Column(name = "created_at", nullable = false)
    public Instant createdAt;
    @Column(name = "updated_at", nullable = false)
    public Instant updatedAt;
}
