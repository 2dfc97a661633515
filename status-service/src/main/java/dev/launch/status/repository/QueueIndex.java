package dev.launch.status.repository;

import dev.launch.common.run.OffsetRanks;
import dev.launch.common.run.Priority;
import dev.launch.common.run.RunState;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What the read model holds per queue, kept in memory so that reading it costs the same at any depth: runs
 * per state, and the offsets of the QUEUED runs per level, from which a run's position is counted in
 * O(log n) instead of counting rows. Loaded from the database once ({@link #ready}); from then on every change
 * {@link RunReadModel} commits is applied here after its commit, and the read model waits for the load
 * before it applies anything, so nothing is counted twice or missed. One status service instance owns it (the
 * service is a single consumer of {@code launch.runs}, as it is of the other topics).
 */
@ApplicationScoped
public class QueueIndex {
    private static final Logger LOG = Logger.getLogger(QueueIndex.class);
    private static final int LEVELS = Priority.values().length;

    @Inject
    Pool pool;

    private static final class Queue {
        final Map<String, Long> states = new HashMap<>();
        final OffsetRanks[] levels = new OffsetRanks[LEVELS];
        /** whether runs of this queue have waited on priority levels (a queue with priorities) */
        boolean levelled;

        OffsetRanks level(int rank) {
            if (levels[rank] == null) {
                levels[rank] = new OffsetRanks();
            }
            return levels[rank];
        }

        void count(String state, long delta) {
            long n = states.getOrDefault(state, 0L) + delta;
            if (n == 0) {
                states.remove(state);
            } else {
                states.put(state, n);
            }
        }
    }

    private final Map<String, Queue> queues = new HashMap<>();
    private volatile boolean loaded;
    private Uni<Void> loading;

    /** Completes once the index is loaded (at once after that); a failed load is tried again next call. */
    public Uni<Void> ready() {
        if (loaded) {
            return Uni.createFrom().voidItem();
        }
        synchronized (this) {
            if (loading == null) {
                loading = load().onFailure().invoke(e -> {
                    synchronized (this) {
                        loading = null;
                    }
                }).memoize().indefinitely();
            }
            return loading;
        }
    }

    @Inject
    io.vertx.core.Vertx vertx;
    @org.eclipse.microprofile.config.inject.ConfigProperty(name = "launch.status.index-check-interval",
            defaultValue = "PT30S")
    java.time.Duration checkInterval;
    private volatile boolean checking;

    void startChecks(@jakarta.enterprise.event.Observes io.quarkus.runtime.StartupEvent event) {
        vertx.setPeriodic(checkInterval.toMillis(), id -> {
            if (!loaded || checking) {
                return;
            }
            checking = true;
            check().subscribe().with(changed -> checking = false, e -> {
                checking = false;
                LOG.debugf("the queue index could not be checked: %s", e.toString());
            });
        });
    }

    /** the end of the chain of exclusive work: each waits for the one before it (see {@link #exclusive}) */
    private java.util.concurrent.CompletableFuture<Void> tail = java.util.concurrent.CompletableFuture.completedFuture(null);

    /**
     * {@code work} alone among the index's writers: the read model's transactions with the index updates that
     * follow their commits, the pruner's batches, and the index's own reloads and checks. A load that read the
     * database beside a commit could miss or double its change; in here none happens beside another. Each
     * subscription waits its turn (a retry queues again).
     */
    public <T> Uni<T> exclusive(java.util.function.Supplier<Uni<T>> work) {
        return Uni.createFrom().deferred(() -> {
            java.util.concurrent.CompletableFuture<Void> mine = new java.util.concurrent.CompletableFuture<>();
            java.util.concurrent.CompletableFuture<Void> before;
            synchronized (this) {
                before = tail;
                tail = mine;
            }
            return Uni.createFrom().completionStage(before).chain(work::get)
                    .onTermination().invoke(() -> mine.complete(null));
        });
    }

    /**
     * Compares the run counts with the database's and loads the index again when they differ, saying how (it
     * should never happen: a change the index missed or doubled). Run every {@code launch.status.index-check-interval}.
     */
    public Uni<Boolean> check() {
        return exclusive(() -> pool.query("SELECT queue, state, count(*) AS n FROM run GROUP BY queue, state")
                .execute().chain(rows -> {
                    Map<String, Map<String, Long>> truth = new HashMap<>();
                    for (Row row : rows) {
                        truth.computeIfAbsent(row.getString("queue"), q -> new HashMap<>())
                                .put(row.getString("state"), row.getLong("n"));
                    }
                    List<String> differences = new ArrayList<>();
                    synchronized (this) {
                        Set<String> names = new TreeSet<>(truth.keySet());
                        names.addAll(queues.keySet());
                        for (String name : names) {
                            Map<String, Long> held = queues.containsKey(name) ? queues.get(name).states : Map.of();
                            Map<String, Long> real = truth.getOrDefault(name, Map.of());
                            if (!held.equals(real)) {
                                differences.add(name + ": " + held + " where the database has " + real);
                            }
                        }
                    }
                    if (differences.isEmpty()) {
                        return Uni.createFrom().item(false);
                    }
                    LOG.warnf("the queue index differed from the database (%s); loading it again", differences);
                    return load().replaceWith(true);
                }));
    }

    /** set when a transaction's outcome is unknown: the next {@link #reloadIfStale} loads the index again */
    private volatile boolean stale;

    /**
     * Marks the index stale: a transaction's outcome is unknown (its commit may have landed while its answer was
     * lost), and its changes would never be applied here, as a retry finds its facts seen and changes nothing.
     * Reads go on with what the index holds until the applier reloads it.
     */
    public void reload() {
        if (!stale) {
            LOG.info("queue index to be loaded again: a transaction's outcome is unknown");
        }
        stale = true;
    }

    /**
     * Loads the index again if it is stale. Only the applier of the read model calls this, before its next
     * transaction: no change of the read model is committed while the load reads, so the loaded index holds every
     * committed change exactly once (a load beside commits could miss or double one).
     */
    public Uni<Void> reloadIfStale() {
        if (!stale) {
            return Uni.createFrom().voidItem();
        }
        return load().invoke(() -> stale = false);
    }

    /** Queues the index knows (call after {@link #ready}). */
    public synchronized java.util.Set<String> queueNames() {
        return new java.util.TreeSet<>(queues.keySet());
    }

    private Uni<Void> load() {
        long started = System.nanoTime();
        return pool.query("SELECT queue, state, count(*) AS n FROM run GROUP BY queue, state").execute()
                .chain(counts -> pool.query("SELECT queue, priority_rank, queue_offset, priority IS NOT NULL AS levelled "
                        + "FROM run WHERE state = 'QUEUED' AND queue_offset IS NOT NULL").execute().invoke(queued -> {
                            synchronized (this) {
                                queues.clear();
                                for (Row row : counts) {
                                    queue(row.getString("queue")).count(row.getString("state"), row.getLong("n"));
                                }
                                int n = 0;
                                for (Row row : queued) {
                                    Queue q = queue(row.getString("queue"));
                                    q.level(row.getShort("priority_rank")).add(row.getLong("queue_offset"));
                                    q.levelled |= row.getBoolean("levelled");
                                    n++;
                                }
                                loaded = true;
                                LOG.infof("queue index loaded: %d queues, %d queued runs, in %d ms", queues.size(), n,
                                        (System.nanoTime() - started) / 1_000_000);
                            }
                        }))
                .replaceWithVoid();
    }

    private Queue queue(String name) {
        return queues.computeIfAbsent(name, n -> new Queue());
    }

    /**
     * A committed change of one run: it left {@code from} (null for a new run) and is now {@code to}; a QUEUED
     * side carries its level (a rank, or a priority: null on a queue without priorities) and its item's offset
     * (null when the fact had none).
     */
    public synchronized void changed(String queue, RunState from, int fromRank, Long fromOffset, RunState to,
                                     String toPriority, Long toOffset) {
        int toRank = RunReadModel.rank(toPriority);
        Queue q = queue(queue);
        if (from != null) {
            q.count(from.name(), -1);
            if (from == RunState.QUEUED && fromOffset != null) {
                q.level(fromRank).remove(fromOffset);
            }
        }
        q.count(to.name(), 1);
        if (to == RunState.QUEUED && toOffset != null) {
            q.level(toRank).add(toOffset);
            q.levelled |= toPriority != null;
        }
    }

    /** An ended run deleted by the pruning of old runs. */
    public synchronized void pruned(String queue, RunState state) {
        queue(queue).count(state.name(), -1);
    }

    /** Runs of the queue per state, states with none left out (call after {@link #ready}). */
    public synchronized Map<String, Long> states(String queue) {
        Queue q = queues.get(queue);
        return q == null ? Map.of() : new LinkedHashMap<>(q.states);
    }

    /** Runs of every queue per state, states with none left out (call after {@link #ready}). */
    public synchronized Map<String, Long> states() {
        Map<String, Long> all = new LinkedHashMap<>();
        for (Queue q : queues.values()) {
            q.states.forEach((state, n) -> all.merge(state, n, Long::sum));
        }
        return all;
    }

    /** Whether runs of the queue have waited on priority levels since the index was loaded. */
    public synchronized boolean levelled(String queue) {
        Queue q = queues.get(queue);
        return q != null && q.levelled;
    }

    /** QUEUED runs of the queue per level's rank (0 = critical; all on rank 0 without priorities). */
    public synchronized long[] queuedByRank(String queue) {
        long[] byRank = new long[LEVELS];
        Queue q = queues.get(queue);
        if (q != null) {
            for (int rank = 0; rank < LEVELS; rank++) {
                byRank[rank] = q.levels[rank] == null ? 0 : q.levels[rank].size();
            }
        }
        return byRank;
    }

    /**
     * The QUEUED runs ahead of one at {@code offset} on level {@code rank}: {@code [higher levels, own level]}.
     */
    public synchronized long[] ahead(String queue, int rank, long offset) {
        Queue q = queues.get(queue);
        if (q == null) {
            return new long[] {0, 0};
        }
        long higher = 0;
        for (int r = 0; r < rank; r++) {
            higher += q.levels[r] == null ? 0 : q.levels[r].size();
        }
        return new long[] {higher, q.levels[rank] == null ? 0 : q.levels[rank].before(offset)};
    }
}
