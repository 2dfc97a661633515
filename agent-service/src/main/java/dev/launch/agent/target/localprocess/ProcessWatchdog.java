package dev.launch.agent.target.localprocess;

import org.jboss.logging.Logger;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Ends the local processes of an agent that died without stopping them (kill -9, a crash, the machine's OOM
 * killer). A small shell loop, in a session of its own so it outlives the agent, waits for the agent's process
 * to go away; then it sends SIGTERM to the process group of every run listed in the agent's pid file, and
 * SIGKILL after the stop grace. The runner keeps the file to the runs it has going. An agent that shuts down
 * normally stops its runs itself and leaves the file empty, so the watchdog finds nothing to do.
 */
public final class ProcessWatchdog {
    private static final Logger LOG = Logger.getLogger(ProcessWatchdog.class);
    private static final String SCRIPT = """
            agent=$1; list=$2; grace=$3
            while kill -0 "$agent" 2>/dev/null; do sleep 1; done
            [ -s "$list" ] || { rm -f "$list"; exit 0; }
            for g in $(cat "$list"); do kill -TERM -"$g" 2>/dev/null; done
            sleep "$grace"
            for g in $(cat "$list"); do kill -KILL -"$g" 2>/dev/null; done
            rm -f "$list"
            """;

    private final Path list;
    private final Set<Long> groups = new LinkedHashSet<>();

    private ProcessWatchdog(Path list) {
        this.list = list;
    }

    /** Starts the watchdog of this agent process; its pid file lives in {@code dir}. */
    public static ProcessWatchdog start(Path dir, String agentId, Duration grace) {
        try {
            Files.createDirectories(dir);
            Path list = dir.resolve("." + agentId.replaceAll("[^A-Za-z0-9._-]", "_") + ".pgids");
            Files.writeString(list, "");
            List<String> command = new ArrayList<>();
            if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
                command.add("/usr/bin/setsid");
            }
            command.addAll(List.of("sh", "-c", SCRIPT, "launch-watchdog", String.valueOf(ProcessHandle.current().pid()),
                    list.toString(), String.valueOf(Math.max(1, grace.toSeconds()))));
            new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            return new ProcessWatchdog(list);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the process watchdog", e);
        }
    }

    /** A run's process group to end if the agent dies. */
    public synchronized void watch(long processGroup) {
        groups.add(processGroup);
        write();
    }

    public synchronized void forget(long processGroup) {
        if (groups.remove(processGroup)) {
            write();
        }
    }

    private void write() {
        StringBuilder text = new StringBuilder();
        groups.forEach(g -> text.append(g).append('\n'));
        try {
            Path next = list.resolveSibling(list.getFileName() + ".next");
            Files.writeString(next, text);
            Files.move(next, list, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            LOG.warnf("cannot update %s (%s): runs may outlive a crash of this agent", list, e.toString());
        }
    }
}
