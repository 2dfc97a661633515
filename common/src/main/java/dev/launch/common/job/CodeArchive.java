package dev.launch.common.job;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * Code as a gzipped tar (POSIX ustar), both ways: a snapshot download is what a Kubernetes init container unpacks
 * with {@code wget -qO- URL | tar -xz}, and an upload ({@code launch job create --code DIR} from another machine,
 * or {@code tar -czf - .}) is what the job service unpacks. Written: regular files only, in name order, with their
 * executable bit; directories come from the files' paths; names up to 255 bytes (ustar's prefix and name fields).
 * Read: regular files and directories (long names from pax or GNU headers too); anything else — links, devices,
 * absolute names, {@code ..} — is refused, never written outside the target directory.
 */
public final class CodeArchive {
    private static final int BLOCK = 512;

    private CodeArchive() {
    }

    /** Refused content: the archive's fault, said so that its sender can fix it. */
    public static final class RefusedException extends IOException {
        public RefusedException(String message) {
            super(message);
        }
    }

    /** What {@link #extract} wrote. */
    public record Extracted(int files, long bytes) {
    }

    /** Every regular file under {@code snapshot}. */
    public static void write(Path snapshot, OutputStream to) throws IOException {
        List<Path> files;
        try (Stream<Path> walk = Files.walk(snapshot)) {
            files = walk.filter(Files::isRegularFile).sorted().toList();
        }
        write(snapshot, files, to);
    }

    /** {@code files} (regular files under {@code snapshot}), in the order given. */
    public static void write(Path snapshot, List<Path> files, OutputStream to) throws IOException {
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

    /**
     * Unpacks a gzipped tar into {@code into} (an empty directory): at most {@code maxFiles} files and
     * {@code maxBytes} bytes of content, or a {@link RefusedException} saying which limit or entry.
     */
    public static Extracted extract(InputStream from, Path into, long maxBytes, int maxFiles) throws IOException {
        InputStream tar;
        try {
            tar = new GZIPInputStream(from, 64 * 1024);
        } catch (java.util.zip.ZipException e) {
            throw new RefusedException("not a gzipped tar: " + e.getMessage());
        }
        Path root = into.toAbsolutePath().normalize();
        byte[] header = new byte[BLOCK];
        String longName = null;
        int files = 0;
        long bytes = 0;
        try {
            while (true) {
                if (!readBlock(tar, header)) {
                    throw new RefusedException("the archive ends before its end marker (two empty blocks)");
                }
                if (isZero(header)) {
                    return new Extracted(files, bytes); // the end marker; what follows is padding
                }
                String name = longName != null ? longName : name(header);
                longName = null;
                long size = parseOctal(header, 124, 12, name);
                char type = (char) header[156];
                switch (type) {
                    case 'x', 'L' -> {
                        byte[] data = readData(tar, size, 1 << 20, name);
                        longName = type == 'L' ? cString(data, 0, data.length) : paxPath(data);
                        if (longName != null && longName.isEmpty()) {
                            longName = null;
                        }
                    }
                    case 'g' -> readData(tar, size, 1 << 20, name); // global pax settings: nothing Launch keeps
                    case '5' -> Files.createDirectories(inside(root, name));
                    case '0', '\0', '7' -> {
                        if (++files > maxFiles) {
                            throw new RefusedException("the archive holds more than " + maxFiles + " files; ship the "
                                    + "code as an image or a git repository");
                        }
                        bytes += size;
                        if (bytes > maxBytes) {
                            throw new RefusedException("the archive's files hold more than " + maxBytes + " bytes; ship "
                                    + "the code as an image or a git repository");
                        }
                        Path file = inside(root, name);
                        Files.createDirectories(file.getParent());
                        try (OutputStream out = Files.newOutputStream(file)) {
                            copy(tar, out, size, name);
                        }
                        skip(tar, (BLOCK - size % BLOCK) % BLOCK, name);
                        long mode = parseOctal(header, 100, 8, name);
                        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(
                                (mode & 0100) != 0 ? "rwxr-xr-x" : "rw-r--r--"));
                    }
                    default -> throw new RefusedException("'" + name + "' is " + kind(type) + "; an archive of code "
                            + "holds regular files and directories only");
                }
            }
        } catch (java.io.EOFException e) {
            throw new RefusedException("the archive is cut short: " + e.getMessage());
        } catch (java.util.zip.ZipException e) {
            throw new RefusedException("the archive's gzip stream is damaged: " + e.getMessage());
        }
    }

    private static String kind(char type) {
        return switch (type) {
            case '1' -> "a hard link";
            case '2' -> "a symbolic link";
            case '3', '4' -> "a device";
            case '6' -> "a FIFO";
            default -> "an entry of type '" + type + "'";
        };
    }

    /** Where an entry goes: under {@code root}, or refused. */
    private static Path inside(Path root, String name) throws RefusedException {
        String clean = name.startsWith("./") ? name.substring(2) : name;
        if (clean.isEmpty() || clean.equals(".") || clean.equals("./")) {
            return root;
        }
        if (clean.startsWith("/") || clean.contains("\0") || clean.matches("^[A-Za-z]:.*")) {
            throw new RefusedException("'" + name + "' is an absolute name; an archive of code holds relative ones");
        }
        for (String part : clean.split("/")) {
            if (part.equals("..")) {
                throw new RefusedException("'" + name + "' climbs out of the archive with '..'");
            }
        }
        Path target = root.resolve(clean).normalize();
        if (!target.startsWith(root)) {
            throw new RefusedException("'" + name + "' lies outside the archive");
        }
        return target;
    }

    private static String name(byte[] header) {
        String base = cString(header, 0, 100);
        boolean ustar = header[257] == 'u' && header[258] == 's' && header[259] == 't' && header[260] == 'a'
                && header[261] == 'r';
        String prefix = ustar ? cString(header, 345, 155) : "";
        return prefix.isEmpty() ? base : prefix + "/" + base;
    }

    /** The {@code path} record of a pax extended header ({@code "<len> path=<name>\n"}), else null. */
    private static String paxPath(byte[] data) {
        String text = new String(data, StandardCharsets.UTF_8);
        for (String record : text.split("\n")) {
            int space = record.indexOf(' ');
            if (space > 0 && record.startsWith("path=", space + 1)) {
                return record.substring(space + 6);
            }
        }
        return null;
    }

    private static String cString(byte[] bytes, int at, int length) {
        int end = at;
        while (end < at + length && bytes[end] != 0) {
            end++;
        }
        return new String(bytes, at, end - at, StandardCharsets.UTF_8);
    }

    private static long parseOctal(byte[] header, int at, int length, String name) throws RefusedException {
        String text = cString(header, at, length).trim();
        try {
            return text.isEmpty() ? 0 : Long.parseLong(text, 8);
        } catch (NumberFormatException e) {
            throw new RefusedException("the header of '" + name + "' is not a tar header (a number field holds '"
                    + text + "')");
        }
    }

    private static boolean readBlock(InputStream in, byte[] block) throws IOException {
        int n = in.readNBytes(block, 0, BLOCK);
        if (n == 0) {
            return false;
        }
        if (n < BLOCK) {
            throw new java.io.EOFException("a header block of " + n + " bytes");
        }
        return true;
    }

    private static boolean isZero(byte[] block) {
        for (byte b : block) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }

    private static byte[] readData(InputStream in, long size, int max, String name) throws IOException {
        if (size > max) {
            throw new RefusedException("the extended header of '" + name + "' is " + size + " bytes; at most " + max);
        }
        byte[] data = in.readNBytes((int) size);
        if (data.length < size) {
            throw new java.io.EOFException("in the extended header of '" + name + "'");
        }
        skip(in, (BLOCK - size % BLOCK) % BLOCK, name);
        return data;
    }

    private static void copy(InputStream in, OutputStream out, long size, String name) throws IOException {
        byte[] buffer = new byte[64 * 1024];
        long left = size;
        while (left > 0) {
            int n = in.read(buffer, 0, (int) Math.min(buffer.length, left));
            if (n < 0) {
                throw new java.io.EOFException("in '" + name + "'");
            }
            out.write(buffer, 0, n);
            left -= n;
        }
    }

    private static void skip(InputStream in, long n, String name) throws IOException {
        try {
            in.skipNBytes(n);
        } catch (java.io.EOFException e) {
            throw new java.io.EOFException("after '" + name + "'");
        }
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
