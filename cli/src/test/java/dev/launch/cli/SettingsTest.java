package dev.launch.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SettingsTest {
    private static final Settings.Flags NONE = new Settings.Flags(null, null, null, null, null);

    @TempDir
    Path dir;

    private Path config(String yaml) throws IOException {
        Path file = dir.resolve("launch").resolve("config.yaml");
        Files.createDirectories(file.getParent());
        Files.writeString(file, yaml);
        return file;
    }

    @Test
    void flagsComeFirstThenTheEnvironmentThenTheConfigFileThenTheLocalStack() throws IOException {
        config("jobUrl: http://file-job:1\nqueueUrl: http://file-queue:2\nstatusUrl: http://file-status:3\n"
                + "token: from-file\noutput: yaml\n");
        Map<String, String> env = Map.of("XDG_CONFIG_HOME", dir.toString(), "LAUNCH_QUEUE_URL", "http://env-queue:5/",
                "LAUNCH_TOKEN", "from-env");
        Settings settings = Settings.resolve(new Settings.Flags(null, null, "http://flag-status:9", null, null), env);
        assertEquals("http://file-job:1", settings.jobUrl().toString());
        assertEquals("http://env-queue:5", settings.queueUrl().toString(), "the environment's, without its '/'");
        assertEquals("http://flag-status:9", settings.statusUrl().toString());
        assertEquals("from-env", settings.token());
        assertEquals(Output.Format.YAML, settings.output());

        Settings local = Settings.resolve(NONE, Map.of("XDG_CONFIG_HOME", dir.resolve("none").toString(),
                "LAUNCH_STATUS_PORT", "18084"));
        assertEquals("http://127.0.0.1:8081", local.jobUrl().toString());
        assertEquals("http://127.0.0.1:18084", local.statusUrl().toString(), "./launch up's port variables");
        assertNull(local.token());
        assertEquals(Output.Format.TABLE, local.output());
    }

    @Test
    void whatCannotBeUsedIsRefusedSayingWhatToFix() throws IOException {
        CliException url = assertThrows(CliException.class, () -> Settings.resolve(
                new Settings.Flags("127.0.0.1:8081", null, null, null, null), Map.of("XDG_CONFIG_HOME", dir.toString())));
        assertTrue(url.getMessage().contains("the job service's URL '127.0.0.1:8081' is not an http(s) URL"), url.getMessage());
        CliException missing = assertThrows(CliException.class, () -> Settings.resolve(NONE,
                Map.of("LAUNCH_CONFIG", dir.resolve("absent.yaml").toString())));
        assertTrue(missing.getMessage().contains("which is not a file"), missing.getMessage());
        Path file = config("- a list\n");
        CliException list = assertThrows(CliException.class, () -> Settings.resolve(NONE,
                Map.of("LAUNCH_CONFIG", file.toString())));
        assertTrue(list.getMessage().contains("must be a mapping"), list.getMessage());
        config("output: xml\n");
        CliException format = assertThrows(CliException.class, () -> Settings.resolve(NONE,
                Map.of("XDG_CONFIG_HOME", dir.toString())));
        assertEquals("output format 'xml' is not one of table, json, yaml", format.getMessage());
    }
}
