package dev.launch.job.repository;

import io.quarkus.hibernate.reactive.panache.PanacheEntity;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Table;

import java.time.Instant;

/** A stored job version: lookup columns plus the whole served document. */
@Entity
@Table(name = "job_version")
public class JobVersionEntity extends PanacheEntity {
    @Column(nullable = false)
    public String name;
    @Column(nullable = false)
    public int version;
    @Column(nullable = false)
    public String digest;
    /** the {@link dev.launch.common.job.JobVersion} as JSON */
    @Column(nullable = false, columnDefinition = "text")
    public String document;
    /** {@code code}, {@code git} or {@code image} */
    @Column(name = "source_type", nullable = false)
    public String sourceType;
    @Column(name = "created_at", nullable = false)
    public Instant createdAt;
}
