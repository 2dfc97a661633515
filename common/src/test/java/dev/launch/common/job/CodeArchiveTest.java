package dev.launch.common.job;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CodeArchiveTest {
    @TempDir
    Path dir;

    /** A gzipped tar of raw entries: each a header (name, type) and its content. */
    private static byte[] tar(Object... entries) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (GZIPOutputStream gzip = new GZIPOutputStream(bytes)) {
            for (int i = 0; i < entries.length; i += 3) {
                byte[] content = ((String) entries[i + 2]).getBytes(StandardCharsets.UTF_8);
                byte[] header = CodeArchive.header((String) entries[i], content.length, 0644, 0);
                header[156] = (byte) (char) (Character) entries[i + 1];
                long sum = 0;
                Arrays.fill(header, 148, 156, (byte) ' ');
                for (byte b : header) {
                    sum += b & 0xff;
                }
                byte[] checksum = (String.format("%06o", sum) + "\0 ").getBytes(StandardCharsets.US_ASCII);
                System.arraycopy(checksum, 0, header, 148, 8);
                gzip.write(header);
                gzip.write(content);
                gzip.write(new byte[(512 - content.length % 512) % 512]);
            }
            gzip.write(new byte[1024]);
        }
        return bytes.toByteArray();
    }

    private CodeArchive.Extracted extract(byte[] archive, long maxBytes, int maxFiles) throws IOException {
        Path into = Files.createTempDirectory(dir, "into");
        return CodeArchive.extract(new ByteArrayInputStream(archive), into, maxBytes, maxFiles);
    }

    @Test
    void whatIsWrittenIsReadBackWithItsPathsContentAndExecutableBit() throws IOException {
        Path code = Files.createDirectories(dir.resolve("code"));
        Files.createDirectories(code.resolve("pkg/deep"));
        Files.writeString(code.resolve("train.py"), "print('hi')\n");
        Files.writeString(code.resolve("pkg/deep/" + "n".repeat(90) + ".txt"), "a long name");
        Path script = Files.writeString(code.resolve("run.sh"), "#!/bin/sh\necho run\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        ByteArrayOutputStream archive = new ByteArrayOutputStream();
        CodeArchive.write(code, archive);

        Path into = Files.createDirectories(dir.resolve("into"));
        CodeArchive.Extracted extracted = CodeArchive.extract(new ByteArrayInputStream(archive.toByteArray()), into,
                1 << 20, 10);
        assertEquals(3, extracted.files());
        assertEquals("print('hi')\n", Files.readString(into.resolve("train.py")));
        assertEquals("a long name", Files.readString(into.resolve("pkg/deep/" + "n".repeat(90) + ".txt")));
        assertTrue(Files.isExecutable(into.resolve("run.sh")));
        assertFalse(Files.isExecutable(into.resolve("train.py")));
    }

    @Test
    void namesFromPaxAndGnuLongNameHeadersAreKept() throws IOException {
        String longName = "d/" + "x".repeat(200) + ".py";
        String record = " path=" + longName + "\n";
        record = (record.length() + 3) + record;
        Path into = Files.createTempDirectory(dir, "into");
        CodeArchive.extract(new ByteArrayInputStream(tar("PaxHeaders/x", 'x', record, "short", '0', "pax",
                "././@LongLink", 'L', "e/gnu-long.py", "ignored", '0', "gnu", "a/", '5', "")), into, 1 << 20, 10);
        assertEquals("pax", Files.readString(into.resolve(longName)));
        assertEquals("gnu", Files.readString(into.resolve("e/gnu-long.py")));
        assertTrue(Files.isDirectory(into.resolve("a")));
    }

    @Test
    void entriesThatWouldLeaveTheDirectoryOrAreNotPlainFilesAreRefused() throws IOException {
        assertEquals("'../evil.sh' climbs out of the archive with '..'", assertThrows(CodeArchive.RefusedException.class,
                () -> extract(tar("../evil.sh", '0', "x"), 1 << 20, 10)).getMessage());
        assertEquals("'/etc/cron.d/x' is an absolute name; an archive of code holds relative ones",
                assertThrows(CodeArchive.RefusedException.class,
                        () -> extract(tar("/etc/cron.d/x", '0', "x"), 1 << 20, 10)).getMessage());
        assertTrue(assertThrows(CodeArchive.RefusedException.class,
                () -> extract(tar("link", '2', ""), 1 << 20, 10)).getMessage().contains("'link' is a symbolic link"));
        assertTrue(assertThrows(CodeArchive.RefusedException.class,
                () -> extract(tar("a/../../b", '0', "x"), 1 << 20, 10)).getMessage().contains("climbs out"));
        assertFalse(Files.exists(dir.resolve("evil.sh")) || Files.exists(dir.getParent().resolve("evil.sh")));
    }

    @Test
    void limitsOnFilesAndBytesAndDamagedArchivesAreRefusedSayingWhich() throws IOException {
        assertTrue(assertThrows(CodeArchive.RefusedException.class,
                () -> extract(tar("a", '0', "1", "b", '0', "2"), 1 << 20, 1)).getMessage()
                .startsWith("the archive holds more than 1 files"));
        assertTrue(assertThrows(CodeArchive.RefusedException.class,
                () -> extract(tar("a", '0', "12345"), 4, 10)).getMessage()
                .startsWith("the archive's files hold more than 4 bytes"));
        byte[] whole = tar("a", '0', "hello");
        ByteArrayOutputStream cut = new ByteArrayOutputStream();
        try (GZIPOutputStream gzip = new GZIPOutputStream(cut)) {
            gzip.write(CodeArchive.header("a", 5000, 0644, 0));
            gzip.write(new byte[100]);
        }
        assertTrue(assertThrows(CodeArchive.RefusedException.class, () -> extract(cut.toByteArray(), 1 << 20, 10))
                .getMessage().startsWith("the archive is cut short"));
        assertTrue(assertThrows(CodeArchive.RefusedException.class,
                () -> extract("not gzip".getBytes(StandardCharsets.UTF_8), 1 << 20, 10)).getMessage()
                .startsWith("not a gzipped tar"));
        assertArrayEquals(whole, tar("a", '0', "hello"), "the test's archives are deterministic");
    }
}
