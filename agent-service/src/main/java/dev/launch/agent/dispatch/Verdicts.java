package dev.launch.agent.dispatch;

import dev.launch.agent.messaging.EventPublisher;
import dev.launch.agent.supervise.RunSupervisor;
import dev.launch.common.event.EventTypes;
import dev.launch.common.event.RunLifecycle;
import dev.launch.common.event.RunRequest;
import dev.launch.common.event.StopRun;
import dev.launch.messaging.RunCommandLedger;
import dev.launch.messaging.RunCommandsReader;
import org.jboss.logging.Logger;

/**
 * Acts on the ledger's verdict for this agent's take of an item, whether the agent took it from a queue it
 * holds or a holder handed it over (ADR 0005): launch it once, report it stopped, or skip it.
 */
final class Verdicts {
    private static final Logger LOG = Logger.getLogger(Verdicts.class);

    private final String agentId;
    private final RunCommandsReader commands;
    private final EventPublisher events;
    private final RunSupervisor supervisor;
    private final Slots slots;

    Verdicts(String agentId, RunCommandsReader commands, EventPublisher events, RunSupervisor supervisor,
             Slots slots) {
        this.agentId = agentId;
        this.commands = commands;
        this.events = events;
        this.supervisor = supervisor;
        this.slots = slots;
    }

    /**
     * Acts on the verdict for this agent's take of {@code item} (ask after reading past the take); true when the
     * run was launched, which then holds the caller's slot until it ends.
     */
    boolean launchIfOurs(RunRequest request, String item) {
        RunCommandLedger.Decision decision = commands.ledger().decide(request.runId(), item, agentId);
        try (dev.launch.messaging.RunLog.Scope ignored = dev.launch.messaging.RunLog.scope(request.runId(),
                request.queue(), agentId)) {
            return act(decision, request, item);
        }
    }

    private boolean act(RunCommandLedger.Decision decision, RunRequest request, String item) {
        switch (decision) {
            case STOPPED -> {
                StopRun stop = commands.stopRequested(request.runId());
                events.run(EventTypes.RUN_STOPPED, RunLifecycle.of(request.runId(), request.queue())
                        .withAgent(agentId, request.attempt()).withReason("stopped before it was launched: "
                                + stop.reason()));
                return false;
            }
            case MOVED -> {
                LOG.infof("run %s was moved to another priority before this item (%s) was taken; skipped",
                        request.runId(), item);
                return false;
            }
            case TAKEN_BY_ANOTHER -> {
                LOG.warnf("item %s of run %s was taken first by agent %s; not launched here", item,
                        request.runId(), commands.ledger().takenBy(request.runId(), item));
                return false;
            }
            default -> {
                if (!supervisor.firstLaunch(request.runId(), item)) {
                    // read again after a failed commit (a rebalance gave the queue back): already launched here
                    LOG.warnf("item %s of run %s was launched by this agent already; not again", item,
                            request.runId());
                    return false;
                }
                supervisor.launch(request, slots::release);
                return true;
            }
        }
    }
}
