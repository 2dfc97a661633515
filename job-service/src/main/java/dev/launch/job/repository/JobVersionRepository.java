package dev.launch.job.repository;

import io.quarkus.hibernate.reactive.panache.Panache;
import io.quarkus.hibernate.reactive.panache.PanacheRepository;
import io.quarkus.panache.common.Parameters;
import io.quarkus.panache.common.Sort;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.List;

@ApplicationScoped
public class JobVersionRepository implements PanacheRepository<JobVersionEntity> {

    public Uni<JobVersionEntity> findVersion(String name, int version) {
        return find("name = ?1 and version = ?2", name, version).firstResult();
    }

    public Uni<JobVersionEntity> findLatest(String name) {
        return find("name = ?1", Sort.descending("version"), name).firstResult();
    }

    public Uni<JobVersionEntity> findByDigest(String name, String digest) {
        return find("name = ?1 and digest = ?2", name, digest).firstResult();
    }

    public Uni<List<JobVersionEntity>> versions(String name, int afterVersion, int limit) {
        return find("name = ?1 and version > ?2", Sort.ascending("version"), name, afterVersion).page(0, limit).list();
    }

    /**
     * The latest version of every job whose name sorts after {@code afterName}, by name; only names starting
     * with {@code prefix} and latest versions of {@code sourceType} when given (null: any).
     */
    public Uni<List<JobVersionEntity>> latestOfEachJob(String afterName, String prefix, String sourceType,
                                                       int limit) {
        StringBuilder query = new StringBuilder("from JobVersionEntity v where v.name > :after and v.version = "
                + "(select max(j.version) from JobVersionEntity j where j.name = v.name)");
        Parameters params = Parameters.with("after", afterName == null ? "" : afterName);
        if (prefix != null) {
            // names hold no LIKE wildcards but '_': escape it
            query.append(" and v.name like :prefix escape '!'");
            params.and("prefix", prefix.replace("!", "!!").replace("_", "!_").replace("%", "!%") + "%");
        }
        if (sourceType != null) {
            query.append(" and v.sourceType = :sourceType");
            params.and("sourceType", sourceType);
        }
        return find(query.toString(), Sort.ascending("name"), params).page(0, limit).list();
    }

    /** Serialises version creation per job name for the rest of the transaction. */
    public Uni<Void> lockName(String name) {
        return Panache.getSession()
                .chain(s -> s.createNativeQuery("select pg_advisory_xact_lock(hashtext(:n))")
                        .setParameter("n", "job:" + name).getSingleResult())
                .replaceWithVoid();
    }
}
