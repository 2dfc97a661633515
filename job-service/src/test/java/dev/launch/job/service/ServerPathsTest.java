package dev.launch.job.service;

import dev.launch.common.problem.ProblemException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A code source named by a path on the job service's machine is taken only from under launch.code.server-paths. */
class ServerPathsTest {
    @TempDir
    Path tmp;
    private Path allowed;
    private Path elsewhere;
    private final SourceResolver resolver = new SourceResolver();

    @BeforeEach
    void setUp() throws Exception {
        allowed = Files.createDirectories(tmp.resolve("allowed"));
        elsewhere = Files.createDirectories(tmp.resolve("elsewhere"));
        Files.writeString(Files.createDirectories(allowed.resolve("code")).resolve("run.sh"), "echo ok\n");
        Files.writeString(elsewhere.resolve("secret.txt"), "not yours\n");
        resolver.artifactStore = tmp.resolve("store");
        resolver.maxBytes = 1 << 20;
        resolver.maxFiles = 100;
        resolver.gitTimeout = Duration.ofSeconds(5);
        resolver.serverPaths = Optional.of(List.of(allowed));
    }

    private String refused(String artifact) {
        ProblemException e = assertThrows(ProblemException.class, () -> resolver.snapshotCode(artifact));
        assertEquals(400, e.problem().status());
        assertEquals("source.artifact", e.problem().errors().get(0).field());
        return e.problem().errors().get(0).message();
    }

    @Test
    void aDirectoryUnderAnAllowedOneIsSnapshotted() {
        var resolved = resolver.snapshotCode(allowed.resolve("code").toString());
        assertTrue(resolved.contentDigest().startsWith("sha256:"), resolved.toString());
        assertTrue(Files.isRegularFile(Path.of(resolved.source().snapshot()).resolve("run.sh")));
        assertEquals(resolved.contentDigest(),
                resolver.snapshotCode(allowed.resolve("code").toUri().toString()).contentDigest());
    }

    @Test
    void aPathOutsideIsRefusedWhetherOrNotItExistsAndSaysHowToSendTheCode() {
        String existing = refused(elsewhere.toString());
        String missing = refused(elsewhere.resolve("no-such-dir").toString());
        assertTrue(existing.contains("is not under") && existing.contains("/api/v1/uploads"), existing);
        assertEquals(existing.replace(elsewhere.toString(), "X"),
                missing.replace(elsewhere.resolve("no-such-dir").toString(), "X"), "the answer says nothing of existence");
        assertTrue(refused("/etc").contains("is not under"));
    }

    @Test
    void dotDotDoesNotLeaveTheAllowedDirectory() {
        assertTrue(refused(allowed + "/../elsewhere").contains("is not under"));
        assertTrue(refused("file://" + allowed + "/code/../../elsewhere").contains("is not under"));
    }

    @Test
    void aLinkThatLeadsOutIsRefused() throws Exception {
        Path link = Files.createSymbolicLink(allowed.resolve("link"), elsewhere);
        assertTrue(refused(link.toString()).contains("leads by a link out of"));
        Path fileLink = Files.createSymbolicLink(allowed.resolve("secret"), elsewhere.resolve("secret.txt"));
        assertTrue(refused(fileLink.toString()).contains("leads by a link out of"));
    }

    @Test
    void withNoAllowedDirectoryEveryPathIsRefusedInFavourOfAnUpload() {
        resolver.serverPaths = Optional.empty();
        String message = refused(allowed.resolve("code").toString());
        assertTrue(message.contains("takes no code from paths") && message.contains("--code DIR"), message);
    }
}
