package dev.launch.job.repository;

import io.quarkus.hibernate.reactive.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.IdClass;
import jakarta.persistence.Table;

import java.io.Serializable;
import java.time.Instant;
import java.util.Objects;

/** A named pointer to one version of a job ({@code prod} → 3). */
@Entity
@Table(name = "job_alias")
@IdClass(JobAliasEntity.Key.class)
public class JobAliasEntity extends PanacheEntityBase {
    @Id
    public String name;
    @Id
    public String alias;
    @Column(nullable = false)
    public int version;
    @Column(name = "updated_at", nullable = false)
    public Instant updatedAt;

    /** Composite key. */
    public static class Key implements Serializable {
        public String name;
        public String alias;

        public Key() {
        }

        public Key(String name, String alias) {
            this.name = name;
            this.alias = alias;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Objects.equals(name, k.name) && Objects.equals(alias, k.alias);
        }

        @Override
        public int hashCode() {
            return Objects.hash(name, alias);
        }
    }
}
