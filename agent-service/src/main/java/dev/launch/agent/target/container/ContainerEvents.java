package dev.launch.agent.target.container;

import com.fasterxml.jackson.databind.JsonNode;
import dev.launch.common.event.Events;
import org.jboss.logging.Logger;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * One {@code events} stream of the engine for all of this installation's containers (filtered by the
 * {@code launch.installation} label), read by one thread: container starts and deaths are pushed, not polled. The
 * stream is restarted when it ends; each (re)start is followed by a resync, so an event missed meanwhile is found
 * by the state of the containers. Reads both engines' shapes: podman's ({@code Name}, {@code Status: died}) and
 * docker's ({@code Actor.Attributes.name}, {@code Action: die}).
 */
final class ContainerEvents {
    private static final Logger LOG = Logger.getLogger(ContainerEvents.class);

    private final ContainerEngine engine;
    private final String installation;
    private final BiConsumer<String, String> onEvent;
    private final Runnable resync;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile Process process;

    ContainerEvents(ContainerEngine engine, String installation, BiConsumer<String, String> onEvent, Runnable resync) {
        this.engine = engine;
        this.installation = installation;
        this.onEvent = onEvent;
        this.resync = resync;
        this.thread = new Thread(this::loop, "container-events");
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    private void loop() {
        while (running) {
            try {
                process = new ProcessBuilder(engine.command(List.of("events", "--format", "{{json .}}",
                        "--filter", "type=container", "--filter", "label=launch.installation=" + installation)))
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
                resync.run();
                try (BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = reader.readLine()) != null) {
                        handle(line);
                    }
                }
            } catch (IOException | RuntimeException e) {
                if (running) {
                    LOG.warnf("the %s event stream failed (%s); starting it again", engine.name(), e.toString());
                }
            }
            if (running) {
                try {
                    Thread.sleep(1000); // the engine is away: try again in a second, not in a tight loop
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    private void handle(String line) {
        try {
            JsonNode e = Events.MAPPER.readTree(line);
            String name = text(e, "Name");
            if (name == null) {
                name = text(e.path("Actor").path("Attributes"), "name");
            }
            String status = text(e, "Status");
            if (status == null) {
                status = text(e, "Action");
            }
            if (status == null) {
                status = text(e, "status");
            }
            if (name != null && status != null) {
                onEvent.accept(name.replaceFirst("^/", ""), status);
            }
        } catch (IOException | RuntimeException ex) {
            LOG.debugf("unreadable %s event: %s", engine.name(), line);
        }
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v == null || !v.isTextual() ? null : v.asText();
    }

    void close() {
        running = false;
        Process p = process;
        if (p != null) {
            p.destroy();
        }
        thread.interrupt();
    }
}
