package dev.launch.messaging;

import dev.launch.common.event.AdoptRun;
import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.MoveRun;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunTaken;
import dev.launch.common.event.StopRun;

import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What the records of {@code launch.run-commands} decide about each run, applied in the order of the run's
 * partition. That order is the one arbiter every reader agrees on, because stops, takes and moves of a run
 * are all keyed by its id:
 *
 * <ul>
 *   <li>{@code RunTaken(item)} holds if the item is still live: not moved away, not the void target of a lost
 *       move. The first agent to take an item owns it; a later take of the same item by another agent is a
 *       duplicate.</li>
 *   <li>{@code MoveRun(from, to)} wins if {@code from} is live and nobody took it before; the run then waits
 *       as {@code to}. Otherwise the move lost and {@code to} is void (never launched).</li>
 *   <li>{@code RunLaunching(item)} records that the agent is about to start the work, if the item is still
 *       live; an agent starts only when its own record held.</li>
 *   <li>A release ({@code MoveRun} with {@code releasedFrom}: the run of a lost agent handed back) wins if
 *       {@code from} is live and no {@code RunLaunching} of it came first, whoever took it.</li>
 *   <li>A retry ({@code MoveRun} with {@code attempt}: a run its lost agent had started, queued again as a new
 *       attempt) wins if {@code from} is live, launched or not; an agent still holding {@code from} abandons
 *       it.</li>
 *   <li>{@code StopRun} marks the run stopped, whatever item it waits as.</li>
 *   <li>{@code AdoptRun(item, fromAgent)} opens an adoption of launched work if {@code fromAgent} still owns the
 *       item (the agent that took it, or the last adopter); a stale one (the run has another owner by now) is
 *       ignored. The first {@code RunAdopted(item, attempt)} after it makes its agent the owner and closes the
 *       adoption; later ones lost (ADR 0002). Records older than the topic's retention are gone: an
 *       {@code AdoptRun} of an item nothing was read about stands for its launch record (the status service
 *       asks from its durable copy), and a {@code RunAdopted} of such an item makes its agent the owner.</li>
 * </ul>
 *
 * An agent writes {@code RunTaken}, reads up to it (a fence), then asks {@link #decide}; the status service
 * writes {@code MoveRun}, reads up to it, then asks {@link #moveOutcome}. Both see the same prefix of the
 * partition, so they reach the same verdict: a run is launched at most once per attempt, through exactly one
 * item. Thread-safe; remembers the most recent {@code capacity} runs.
 */
public final class RunCommandLedger {

    /** What an agent that took an item must do with it. */
    public enum Decision {
        /** launch it: the item is live and this agent took it first */
        LAUNCH,
        /** a stop was recorded for the run: report it stopped, do not launch */
        STOPPED,
        /** the run was moved to another item before this one was taken (or this is a lost move's item) */
        MOVED,
        /** another agent took this item first */
        TAKEN_BY_ANOTHER
    }

    private static final class Entry {
        StopRun stop;
        final Map<String, String> takenBy = new HashMap<>();
        final Set<String> movedAway = new HashSet<>();
        final Set<String> voided = new HashSet<>();
        final Map<String, Boolean> moves = new HashMap<>();
        final Set<String> launched = new HashSet<>();
        /** item -> its first launch record (handle, adoptable) */
        final Map<String, RunTaken> launchRecords = new HashMap<>();
        /** item -> the agent that owns its work: the first taker, then each adopter */
        final Map<String, String> owners = new HashMap<>();
        AdoptRun adoption;

        boolean live(String item) {
            return !movedAway.contains(item) && !voided.contains(item);
        }
    }

    private final Map<String, Entry> runs;

    public RunCommandLedger(int capacity) {
        this.runs = new LinkedHashMap<>(1024, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Entry> eldest) {
                return size() > capacity;
            }
        };
    }

    /**
     * Applies one record; returns the {@code StopRun} when it is the first stop seen for its run (so the
     * caller can act on it once), else null. Types other than stops, takes and moves are ignored.
     */
    public synchronized StopRun apply(EventEnvelope envelope) {
        switch (envelope.type()) {
            case EventTypes.STOP_RUN -> {
                StopRun stop = envelope.payloadAs(StopRun.class);
                Entry entry = entry(stop.runId());
                if (entry.stop == null) {
                    entry.stop = stop;
                    return stop;
                }
            }
            case EventTypes.RUN_TAKEN -> {
                RunTaken taken = envelope.payloadAs(RunTaken.class);
                Entry entry = entry(taken.runId());
                if (entry.live(taken.itemId())) {
                    entry.takenBy.putIfAbsent(taken.itemId(), taken.agentId());
                    entry.owners.putIfAbsent(taken.itemId(), taken.agentId());
                }
            }
            case EventTypes.RUN_LAUNCHING -> {
                RunTaken launching = envelope.payloadAs(RunTaken.class);
                Entry entry = entry(launching.runId());
                if (entry.live(launching.itemId())) {
                    entry.launched.add(launching.itemId());
                    entry.launchRecords.putIfAbsent(launching.itemId(), launching);
                    entry.owners.putIfAbsent(launching.itemId(), launching.agentId());
                }
            }
            case EventTypes.MOVE_RUN -> {
                MoveRun move = envelope.payloadAs(MoveRun.class);
                Entry entry = entry(move.runId());
                if (entry.moves.containsKey(move.toItem())) {
                    return null; // the same record read twice
                }
                boolean won = entry.live(move.fromItem()) && (move.retry()
                        || (move.releasedFrom() != null ? !entry.launched.contains(move.fromItem())
                        : !entry.takenBy.containsKey(move.fromItem())));
                entry.moves.put(move.toItem(), won);
                if (won) {
                    entry.movedAway.add(move.fromItem());
                } else {
                    entry.voided.add(move.toItem());
                }
            }
            case EventTypes.ADOPT_RUN -> {
                AdoptRun adopt = envelope.payloadAs(AdoptRun.class);
                Entry entry = entry(adopt.runId());
                String item = adopt.itemId();
                if (entry.live(item) && !entry.launched.contains(item) && !entry.takenBy.containsKey(item)
                        && !entry.owners.containsKey(item)) {
                    // nothing read about the item: its take and launch are older than the topic's retention (or
                    // this reader's memory). The status service asks from its own durable copy of the launch
                    // record, so the request stands for that record.
                    entry.launched.add(item);
                    entry.launchRecords.put(item, new RunTaken(adopt.runId(), adopt.queue(), item, adopt.fromAgent(),
                            adopt.handle(), true));
                    entry.owners.put(item, adopt.fromAgent());
                }
                if (entry.launched.contains(item) && entry.live(item)
                        && adopt.fromAgent().equals(entry.owners.get(item))) {
                    entry.adoption = adopt;
                }
            }
            case EventTypes.RUN_ADOPTED -> {
                RunLifecycle adopted = envelope.payloadAs(RunLifecycle.class);
                Entry entry = entry(adopted.runId());
                AdoptRun open = entry.adoption;
                String item = adopted.itemId() == null ? adopted.runId() : adopted.itemId();
                if (open != null && open.itemId().equals(item) && adopted.attempt() != null
                        && open.attempt() == adopted.attempt()) {
                    entry.owners.put(item, adopted.agentId());
                    entry.adoption = null;
                } else if (open == null && !entry.owners.containsKey(item) && entry.live(item)) {
                    // the adoption it answered is older than what was read: it won then, it owns the work now
                    entry.launched.add(item);
                    entry.owners.put(item, adopted.agentId());
                }
            }
            default -> {
                // other records are not about who launches what
            }
        }
        return null;
    }

    /** The stop recorded for {@code runId}, or null. */
    public synchronized StopRun stop(String runId) {
        Entry entry = runs.get(runId);
        return entry == null ? null : entry.stop;
    }

    /**
     * The verdict on {@code agentId}'s take of {@code itemId}; ask only after reading past that agent's own
     * {@code RunTaken} record.
     */
    public synchronized Decision decide(String runId, String itemId, String agentId) {
        Entry entry = runs.get(runId);
        if (entry == null) {
            return Decision.LAUNCH; // forgotten (older than the capacity): nothing recorded against it
        }
        if (entry.stop != null) {
            return Decision.STOPPED;
        }
        if (!entry.live(itemId)) {
            return Decision.MOVED;
        }
        String first = entry.takenBy.get(itemId);
        return first == null || first.equals(agentId) ? Decision.LAUNCH : Decision.TAKEN_BY_ANOTHER;
    }

    /**
     * Whether the agent that wrote {@code RunLaunching(itemId)} may start the work: false when the item was
     * handed back (released) or moved before that record. Ask after reading past the agent's own record.
     */
    public synchronized boolean mayStart(String runId, String itemId) {
        Entry entry = runs.get(runId);
        return entry == null || entry.launched.contains(itemId);
    }

    /** Whether an agent recorded that it was starting {@code itemId}'s work. */
    public synchronized boolean launching(String runId, String itemId) {
        Entry entry = runs.get(runId);
        return entry != null && entry.launched.contains(itemId);
    }

    /** The first launch record of {@code itemId} (its handle, whether it is adoptable), or null. */
    public synchronized RunTaken launchRecord(String runId, String itemId) {
        Entry entry = runs.get(runId);
        return entry == null ? null : entry.launchRecords.get(itemId);
    }

    /** The agent that owns {@code itemId}'s work: its taker, or the last agent that adopted it; or null. */
    public synchronized String owner(String runId, String itemId) {
        Entry entry = runs.get(runId);
        return entry == null ? null : entry.owners.get(itemId);
    }

    /** The adoption of {@code runId}'s work that is open (asked for, not yet won), or null. */
    public synchronized AdoptRun openAdoption(String runId) {
        Entry entry = runs.get(runId);
        return entry == null ? null : entry.adoption;
    }

    /** Every open adoption (what an agent that has just caught up with the topic may answer). */
    public synchronized java.util.List<AdoptRun> openAdoptions() {
        return runs.values().stream().map(e -> e.adoption).filter(java.util.Objects::nonNull).toList();
    }

    /** Whether the move to {@code toItem} won; empty until its {@code MoveRun} has been applied. */
    public synchronized Optional<Boolean> moveOutcome(String runId, String toItem) {
        Entry entry = runs.get(runId);
        return entry == null ? Optional.empty() : Optional.ofNullable(entry.moves.get(toItem));
    }

    /** The agent that took {@code itemId} first, or null. */
    public synchronized String takenBy(String runId, String itemId) {
        Entry entry = runs.get(runId);
        return entry == null ? null : entry.takenBy.get(itemId);
    }

    private Entry entry(String runId) {
        return runs.computeIfAbsent(runId, id -> new Entry());
    }
}
