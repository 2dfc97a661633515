package dev.launch.job.service;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;

/**
 * A code snapshot as a gzipped tar (POSIX ustar): what a Kubernetes init container unpacks with
 * {@code wget -qO- URL | tar -xz}. Regular files only, in name order, with their executable bit; directories come
 * from the files' paths. Names up to 255 bytes (ustar's prefix and name fields).
 */
public final class SnapshotArchive {
    private static final int BLOCK = 512;

    private SnapshotArchive() {
    }

    public static void write(Path snapshot, OutputStream to) throws IOException {
        List<Path> files;
        try (Stream<Path> walk = Files.walk(snapshot)) {
            files = walk.filter(Files::isRegularFile).sorted().toList();
        }
        GZIPOutputStream gzip = new GZIPOutputStream(to, 64 * 1024);
        for (Path file : files) {
            String name = snapshot.relativize(file).toString().replace('\\', '/');
            long size = Files.size(file);
            gzip.write(header(name, size, Files.isExecutable(file) ? 0755 : 0644,
                    Files.getLastModifiedTime(file).toMillis() / 1000));
            try (var in = Files.newInputStream(file)) {
                in.transferTo(gzip);
            }
            int pad = (int) ((BLOCK - size % BLOCK) % BLOCK);
            gzip.write(new byte[pad]);
        }
        gzip.write(new byte[2 * BLOCK]);
        gzip.finish();
        gzip.flush();
    }

    static byte[] header(String name, long size, int mode, long mtime) throws IOException {
        byte[] h = new byte[BLOCK];
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        String prefix = "";
        String base = name;
        if (bytes.length > 100) {
            int cut = name.lastIndexOf('/', Math.min(name.length() - 1, 155));
            if (cut <= 0 || name.substring(cut + 1).getBytes(StandardCharsets.UTF_8).length > 100) {
                throw new IOException("a path too long for the archive: " + name);
            }
            prefix = name.substring(0, cut);
            base = name.substring(cut + 1);
        }
        put(h, 0, 100, base.getBytes(StandardCharsets.UTF_8));
        put(h, 100, 8, octal(mode, 7));
        put(h, 108, 8, octal(0, 7));
        put(h, 116, 8, octal(0, 7));
        put(h, 124, 12, octal(size, 11));
        put(h, 136, 12, octal(mtime, 11));
        for (int i = 148; i < 156; i++) {
            h[i] = ' ';
        }
        h[156] = '0';
        put(h, 257, 6, "ustar\0".getBytes(StandardCharsets.US_ASCII));
        put(h, 263, 2, "00".getBytes(StandardCharsets.US_ASCII));
        put(h, 345, 155, prefix.getBytes(StandardCharsets.UTF_8));
        long sum = 0;
        for (byte b : h) {
            sum += b & 0xff;
        }
        put(h, 148, 8, (String.format("%06o", sum) + "\0 ").getBytes(StandardCharsets.US_ASCII));
        return h;
    }

    private static byte[] octal(long value, int digits) {
        return (String.format("%0" + digits + "o", value) + "\0").getBytes(StandardCharsets.US_ASCII);
    }

    private static void put(byte[] into, int at, int length, byte[] value) {
        System.arraycopy(value, 0, into, at, Math.min(length, value.length));
    }
}
