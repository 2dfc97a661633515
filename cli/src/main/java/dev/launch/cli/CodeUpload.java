package dev.launch.cli;

import dev.launch.common.job.CodeArchive;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.FileSystems;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;

/**
 * A directory of code as the job service takes it from another machine: every regular file under it, without
 * {@code .git} and what its {@code .launchignore} names, as a gzipped tar ({@link CodeArchive}).
 *
 * <p>{@code .launchignore} takes gitignore's common forms, one per line: {@code #} comments, {@code *.ckpt}
 * (a name at any depth), {@code data/} (a directory at any depth, with all under it), {@code /build} or
 * {@code src/tmp/*.log} (from the directory's root), {@code **} across directories, {@code ?}. Negation
 * ({@code !keep.me}) is refused: say what to leave out instead.
 */
final class CodeUpload {
    static final String IGNORE_FILE = ".launchignore";

    private record Rule(PathMatcher matcher, boolean anchored, boolean directoriesOnly) {
        boolean matches(Path relative, boolean directory) {
            if (directoriesOnly && !directory) {
                return false;
            }
            return matcher.matches(anchored ? relative : relative.getFileName());
        }
    }

    private CodeUpload() {
    }

    /** The files to send, in name order. */
    static List<Path> files(Path root) {
        List<Rule> rules = rules(root);
        List<Path> files = new ArrayList<>();
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                    if (dir.equals(root)) {
                        return FileVisitResult.CONTINUE;
                    }
                    Path relative = root.relativize(dir);
                    return relative.getFileName().toString().equals(".git") || ignored(rules, relative, true)
                            ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    if (attrs.isRegularFile() && !ignored(rules, root.relativize(file), false)) {
                        files.add(file);
                    }
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw CliException.usage("cannot read " + root + ": " + e.getMessage());
        }
        files.sort(null);
        return files;
    }

    /** Writes the archive of {@code files} (from {@link #files}) under {@code root}. */
    static void write(Path root, List<Path> files, OutputStream to) {
        try {
            CodeArchive.write(root, files, to);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static boolean ignored(List<Rule> rules, Path relative, boolean directory) {
        for (Rule rule : rules) {
            if (rule.matches(relative, directory)) {
                return true;
            }
        }
        return false;
    }

    private static List<Rule> rules(Path root) {
        Path file = root.resolve(IGNORE_FILE);
        if (!Files.isRegularFile(file)) {
            return List.of();
        }
        List<Rule> rules = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw CliException.usage("cannot read " + file + ": " + e.getMessage());
        }
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            if (line.startsWith("!")) {
                throw CliException.usage(file + " line " + (i + 1) + ": '" + line + "': negation is not supported; "
                        + "name what to leave out instead");
            }
            boolean directoriesOnly = line.endsWith("/");
            String pattern = directoriesOnly ? line.substring(0, line.length() - 1) : line;
            boolean anchored = pattern.contains("/");
            pattern = pattern.startsWith("/") ? pattern.substring(1) : pattern;
            try {
                rules.add(new Rule(FileSystems.getDefault().getPathMatcher("glob:" + pattern), anchored, directoriesOnly));
                if (pattern.startsWith("**/")) { // '**/x' also matches x at the root, as in gitignore
                    rules.add(new Rule(FileSystems.getDefault().getPathMatcher("glob:" + pattern.substring(3)),
                            pattern.substring(3).contains("/"), directoriesOnly));
                }
            } catch (IllegalArgumentException e) {
                throw CliException.usage(file + " line " + (i + 1) + ": '" + line + "' is not a pattern: " + e.getMessage());
            }
        }
        return rules;
    }
}
