package dev.launch.messaging;

import dev.launch.common.event.EventEnvelope;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.MoveRun;
import dev.launch.common.event.RunTaken;
import dev.launch.common.event.StopRun;
import dev.launch.common.naming.RunIds;
import dev.launch.messaging.RunCommandLedger;
import dev.launch.messaging.RunCommandLedger.Decision;
import org.junit.jupiter.api.Test;

import java.util.Optional;

import static org.junit.jupiter.api.Assertions.*;

/** The order of a run's records on launch.run-commands decides who launches it, and through which item. */
class RunCommandLedgerTest {
    private final RunCommandLedger ledger = new RunCommandLedger(1000);
    private final String run = RunIds.next();

    private void take(String item, String agent) {
        ledger.apply(EventEnvelope.of(EventTypes.RUN_TAKEN, run, new RunTaken(run, "q", item, agent)));
    }

    private void move(String from, String to) {
        ledger.apply(EventEnvelope.of(EventTypes.MOVE_RUN, run, new MoveRun(run, "q", from, to, "high", "api")));
    }

    @Test
    void aMoveBeforeTheTakeWinsTheOldItemIsSkippedAndTheNewOneLaunched() {
        String moved = RunIds.next();
        move(run, moved);
        take(run, "a");
        assertEquals(Optional.of(true), ledger.moveOutcome(run, moved));
        assertEquals(Decision.MOVED, ledger.decide(run, run, "a"));
        take(moved, "a");
        assertEquals(Decision.LAUNCH, ledger.decide(run, moved, "a"));
    }

    @Test
    void aTakeBeforeTheMoveWinsTheNewItemIsVoid() {
        String moved = RunIds.next();
        take(run, "a");
        move(run, moved);
        assertEquals(Optional.of(false), ledger.moveOutcome(run, moved));
        assertEquals(Decision.LAUNCH, ledger.decide(run, run, "a"));
        take(moved, "b");
        assertEquals(Decision.MOVED, ledger.decide(run, moved, "b"));
    }

    @Test
    void movesChainAndAMoveFromADeadItemLoses() {
        String second = RunIds.next();
        String third = RunIds.next();
        String stale = RunIds.next();
        move(run, second);
        move(second, third);
        move(run, stale); // asked on a stale view: the original item was already moved away
        assertEquals(Optional.of(true), ledger.moveOutcome(run, second));
        assertEquals(Optional.of(true), ledger.moveOutcome(run, third));
        assertEquals(Optional.of(false), ledger.moveOutcome(run, stale));
        for (String dead : new String[] {run, second, stale}) {
            take(dead, "a");
            assertEquals(Decision.MOVED, ledger.decide(run, dead, "a"), dead);
        }
        take(third, "a");
        assertEquals(Decision.LAUNCH, ledger.decide(run, third, "a"));
    }

    private void launching(String item, String agent) {
        ledger.apply(EventEnvelope.of(EventTypes.RUN_LAUNCHING, run, new RunTaken(run, "q", item, agent)));
    }

    private void release(String from, String to, String agent) {
        ledger.apply(EventEnvelope.of(EventTypes.MOVE_RUN, run, new MoveRun(run, "q", from, to, "medium",
                "status-service", agent)));
    }

    @Test
    void aReleaseOfATakenButUnlaunchedRunWinsAndTheOldAgentMayNotStartIt() {
        String released = RunIds.next();
        take(run, "dead");
        release(run, released, "dead");
        assertEquals(Optional.of(true), ledger.moveOutcome(run, released));
        launching(run, "dead"); // a zombie agent coming back
        assertFalse(ledger.mayStart(run, run));
        take(released, "b");
        assertEquals(Decision.LAUNCH, ledger.decide(run, released, "b"));
        launching(released, "b");
        assertTrue(ledger.mayStart(run, released));
    }

    @Test
    void aReleaseAfterTheLaunchRecordLoses() {
        String released = RunIds.next();
        take(run, "a");
        launching(run, "a");
        release(run, released, "a");
        assertEquals(Optional.of(false), ledger.moveOutcome(run, released));
        assertTrue(ledger.mayStart(run, run));
        assertTrue(ledger.launching(run, run));
    }

    private void retry(String from, String to, String agent, int attempt) {
        ledger.apply(EventEnvelope.of(EventTypes.MOVE_RUN, run, new MoveRun(run, "q", from, to, null,
                "status-service", agent, attempt)));
    }

    @Test
    void aRetryOfALaunchedRunWinsTheOldItemIsDeadAndTheNewAttemptLaunchesOnce() {
        String second = RunIds.next();
        take(run, "dead");
        launching(run, "dead");
        retry(run, second, "dead", 2);
        assertEquals(Optional.of(true), ledger.moveOutcome(run, second));
        assertEquals(Decision.MOVED, ledger.decide(run, run, "dead"), "the first attempt's item is dead");
        take(second, "b");
        take(second, "c");
        assertEquals(Decision.LAUNCH, ledger.decide(run, second, "b"));
        assertEquals(Decision.TAKEN_BY_ANOTHER, ledger.decide(run, second, "c"));
        launching(second, "b");
        assertTrue(ledger.mayStart(run, second));
        // a second retry of the dead item (a status service asking twice) loses: one new attempt per item
        String third = RunIds.next();
        retry(run, third, "dead", 2);
        assertEquals(Optional.of(false), ledger.moveOutcome(run, third));
    }

    @Test
    void theFirstAgentToTakeAnItemOwnsIt() {
        take(run, "a");
        take(run, "b");
        take(run, "a"); // a retry of a's own take
        assertEquals(Decision.LAUNCH, ledger.decide(run, run, "a"));
        assertEquals(Decision.TAKEN_BY_ANOTHER, ledger.decide(run, run, "b"));
        assertEquals("a", ledger.takenBy(run, run));
    }

    @Test
    void aStopWinsOverEverythingAndIsReportedOnce() {
        StopRun stop = new StopRun(run, "q", "by user", "api");
        assertEquals(stop, ledger.apply(EventEnvelope.of(EventTypes.STOP_RUN, run, stop)));
        assertNull(ledger.apply(EventEnvelope.of(EventTypes.STOP_RUN, run, stop)));
        take(run, "a");
        assertEquals(Decision.STOPPED, ledger.decide(run, run, "a"));
    }

    @Test
    void anUnknownRunMayBeLaunchedAndHasNoMoveOutcome() {
        assertEquals(Decision.LAUNCH, ledger.decide(run, run, "a"));
        assertEquals(Optional.empty(), ledger.moveOutcome(run, RunIds.next()));
    }

    private void launching(String item, String agent, boolean adoptable) {
        ledger.apply(EventEnvelope.of(EventTypes.RUN_LAUNCHING, run, new RunTaken(run, "q", item, agent,
                "launch-" + run + "-1", adoptable)));
    }

    private dev.launch.common.event.AdoptRun adoptFrom(String agent) {
        dev.launch.common.event.AdoptRun adopt = new dev.launch.common.event.AdoptRun(run, "q", run, 1,
                "local-container", "launch-" + run + "-1", agent, "lost", null, null);
        ledger.apply(EventEnvelope.of(EventTypes.ADOPT_RUN, run, adopt));
        return adopt;
    }

    private void adopted(String agent) {
        ledger.apply(EventEnvelope.of(EventTypes.RUN_ADOPTED, run, dev.launch.common.event.RunLifecycle.of(run, "q")
                .withAgent(agent, 1).withItem(run)));
    }

    @Test
    void theFirstAdoptionAfterAnAdoptRunWinsAndLaterOnesLose() {
        take(run, "a");
        launching(run, "a", true);
        assertEquals("launch-" + run + "-1", ledger.launchRecord(run, run).handle());
        assertTrue(ledger.launchRecord(run, run).outlivesAgent());
        adopted("b"); // no adoption asked for: changes nothing
        assertEquals("a", ledger.owner(run, run));
        var adopt = adoptFrom("a");
        assertEquals(adopt, ledger.openAdoption(run));
        assertEquals(java.util.List.of(adopt), ledger.openAdoptions());
        adopted("b");
        adopted("c");
        assertEquals("b", ledger.owner(run, run));
        assertNull(ledger.openAdoption(run));
    }

    @Test
    void aStaleAdoptRunNamingAFormerOwnerOpensNothing() {
        take(run, "a");
        launching(run, "a", true);
        adoptFrom("a");
        adopted("b");
        adoptFrom("a"); // written again before the status service saw b's adoption
        assertNull(ledger.openAdoption(run));
        adoptFrom("b"); // b is gone too: a new round, which the same id may win after a restart
        adopted("b");
        assertEquals("b", ledger.owner(run, run));
        assertNull(ledger.openAdoption(run));
    }

    @Test
    void workThatWasNeverLaunchedCannotBeAdopted() {
        take(run, "a");
        adoptFrom("a");
        assertNull(ledger.openAdoption(run));
    }

    @Test
    void anAdoptRunOfWorkWhoseRecordsAgedOutOpensFromTheRequestItselfAndItsWinnerOwnsTheWork() {
        // nothing read about the run: its take and launch records are older than the topic's retention
        var adopt = adoptFrom("a");
        assertEquals(adopt, ledger.openAdoption(run));
        assertEquals("launch-" + run + "-1", ledger.launchRecord(run, run).handle());
        adopted("b");
        assertEquals("b", ledger.owner(run, run));
        adoptFrom("a"); // a late copy naming the former owner
        assertNull(ledger.openAdoption(run));
    }

    @Test
    void anAdoptionWhoseAdoptRunAgedOutStillNamesTheOwner() {
        adopted("b");
        assertEquals("b", ledger.owner(run, run));
        adoptFrom("a");
        assertNull(ledger.openAdoption(run), "the agent named is no longer the owner");
    }
}
