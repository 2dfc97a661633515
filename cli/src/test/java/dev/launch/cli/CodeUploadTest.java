package dev.launch.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CodeUploadTest {
    @TempDir
    Path root;

    private void touch(String... paths) throws IOException {
        for (String path : paths) {
            Path file = root.resolve(path);
            Files.createDirectories(file.getParent());
            Files.writeString(file, path);
        }
    }

    private List<String> sent() {
        return CodeUpload.files(root).stream().map(p -> root.relativize(p).toString()).toList();
    }

    @Test
    void gitAndWhatLaunchignoreNamesStayHome() throws IOException {
        touch("train.py", "src/model.py", "src/tmp/a.log", "logs/b.log", ".git/HEAD", "sub/.git/config",
                "data/big.bin", "nested/data/x.bin", "ckpt/epoch1.ckpt", "deep/er/epoch2.ckpt", "build/out.o",
                "src/build/keep.py", "notes.txt");
        Files.writeString(root.resolve(".launchignore"), """
                # checkpoints and data stay on the laptop
                *.ckpt
                data/
                /build
                src/tmp/*.log
                **/logs
                """);
        assertEquals(List.of(".launchignore", "notes.txt", "src/build/keep.py", "src/model.py", "train.py"), sent());
    }

    @Test
    void withoutALaunchignoreEverythingButGitIsSent() throws IOException {
        touch("a.py", ".git/objects/x", "b/c.py");
        assertEquals(List.of("a.py", "b/c.py"), sent());
    }

    @Test
    void negationIsRefusedSayingWhatToDo() throws IOException {
        touch("a.py");
        Files.writeString(root.resolve(".launchignore"), "*.py\n!a.py\n");
        CliException refused = assertThrows(CliException.class, this::sent);
        assertTrue(refused.getMessage().endsWith("line 2: '!a.py': negation is not supported; name what to leave out "
                + "instead"), refused.getMessage());
    }
}
