package dev.launch.job.service;

import dev.launch.common.job.CodeArchive;
import dev.launch.common.job.JobSource;
import dev.launch.common.problem.ProblemException;
import dev.launch.job.rest.CreateJobRequest;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Pins a job's source so a version always means the same code: a git ref is resolved to a commit, a code
 * directory is digested by content and copied into the content-addressed artifact store. Blocking: call it
 * off the event loop.
 */
@ApplicationScoped
public class SourceResolver {
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    @ConfigProperty(name = "launch.artifact-store")
    Path artifactStore;
    @ConfigProperty(name = "launch.code.max-bytes")
    long maxBytes;
    @ConfigProperty(name = "launch.code.max-files")
    int maxFiles;
    @ConfigProperty(name = "launch.git.timeout")
    Duration gitTimeout;
    /** The directories on this machine that a code source may name; none: code comes by upload only. */
    @ConfigProperty(name = "launch.code.server-paths")
    java.util.Optional<List<Path>> serverPaths;

    /** A pinned source plus the content digest that identifies the code (for code sources). */
    public record Resolved(JobSource source, String contentDigest) {
    }

    public Resolved resolve(CreateJobRequest.Source source) {
        return switch (source.type()) {
            case JobSource.IMAGE -> new Resolved(
                    new JobSource(JobSource.IMAGE, source.image().trim(), null, null, null, null, null), null);
            case JobSource.GIT -> {
                String commit = resolveGitRef(source.remote(), source.ref());
                yield new Resolved(new JobSource(JobSource.GIT, null, source.remote(), source.ref(), commit, null, null),
                        null);
            }
            case JobSource.CODE -> source.artifact().startsWith(UPLOAD) ? uploaded(source.artifact())
                    : snapshotCode(source.artifact());
            default -> throw new IllegalArgumentException(source.type());
        };
    }

    String resolveGitRef(String remote, String ref) {
        if (COMMIT.matcher(ref).matches()) {
            return ref;
        }
        List<String> command = List.of("git", "ls-remote", "--", remote, ref, "refs/heads/" + ref, "refs/tags/" + ref,
                "refs/tags/" + ref + "^{}");
        String output;
        try {
            Process git = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            git.getOutputStream().close();
            byte[] bytes;
            try (InputStream in = git.getInputStream()) {
                bytes = in.readAllBytes();
            }
            if (!git.waitFor(gitTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
                git.destroyForcibly();
                throw ProblemException.invalidField("source.remote", "git did not answer within " + gitTimeout);
            }
            output = new String(bytes, StandardCharsets.UTF_8);
            if (git.exitValue() != 0) {
                throw ProblemException.invalidField("source.remote",
                        "cannot read git remote '" + remote + "': " + firstLine(output));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run git", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while resolving a git ref", e);
        }
        String peeledTag = null;
        String found = null;
        for (String line : output.split("\n")) {
            String[] parts = line.split("\t");
            if (parts.length != 2 || !COMMIT.matcher(parts[0]).matches()) {
                continue;
            }
            if (parts[1].endsWith("^{}")) {
                peeledTag = parts[0];
            } else if (found == null) {
                found = parts[0];
            }
        }
        String commit = peeledTag != null ? peeledTag : found;
        if (commit == null) {
            throw ProblemException.invalidField("source.ref",
                    "no branch or tag '" + ref + "' in " + remote + "; give a branch, a tag or a full commit hash");
        }
        return commit;
    }

    /** The artifact of uploaded code: {@code upload:sha256:<hex>}, the digest of its content. */
    public static final String UPLOAD = "upload:";
    private static final Pattern UPLOADED = Pattern.compile("upload:sha256:([0-9a-f]{64})");

    /** Code uploaded before ({@link #storeUpload}), found by its digest in the artifact store. */
    Resolved uploaded(String artifact) {
        var match = UPLOADED.matcher(artifact);
        if (!match.matches()) {
            throw ProblemException.invalidField("source.artifact", "'" + artifact + "' is not an upload's artifact: "
                    + "POST the code to /api/v1/uploads and give the artifact it answers (upload:sha256:<64 hex>)");
        }
        Path snapshot = artifactStore.toAbsolutePath().resolve("sha256-" + match.group(1));
        if (!Files.isDirectory(snapshot)) {
            throw ProblemException.invalidField("source.artifact", "no upload " + artifact.substring(UPLOAD.length())
                    + " on this job service; upload the code first (POST /api/v1/uploads)");
        }
        return new Resolved(new JobSource(JobSource.CODE, null, null, null, null, artifact, snapshot.toString()),
                "sha256:" + match.group(1));
    }

    /**
     * Unpacks an uploaded archive (a gzipped tar) and keeps its content as a snapshot, like a directory's: the same
     * files give the same digest either way. Answers the upload's artifact ({@code upload:sha256:<hex>}); an archive
     * that is refused (a link, a path out of it, over the code limits) is a 400 saying why.
     */
    public Resolved storeUpload(Path archive) {
        Path staging = null;
        try {
            Files.createDirectories(artifactStore);
            staging = Files.createTempDirectory(artifactStore.toAbsolutePath(), "upload-");
            try (InputStream in = Files.newInputStream(archive)) {
                CodeArchive.extract(in, staging, maxBytes, maxFiles);
            } catch (CodeArchive.RefusedException e) {
                throw ProblemException.invalidField("body", e.getMessage());
            }
            Resolved snapshot = snapshot(staging, staging.toString());
            String artifact = UPLOAD + snapshot.contentDigest();
            return new Resolved(new JobSource(JobSource.CODE, null, null, null, null, artifact,
                    snapshot.source().snapshot()), snapshot.contentDigest());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot store the upload", e);
        } finally {
            if (staging != null) {
                try {
                    deleteTree(staging);
                } catch (IOException e) {
                    // a staging directory left behind holds no snapshot: nothing reads it
                }
            }
        }
    }

    /** A code source named by a path on this machine, under {@code launch.code.server-paths}. */
    Resolved snapshotCode(String artifact) {
        return snapshot(allowedServerPath(toPath(artifact), artifact), artifact);
    }

    private Resolved snapshot(Path root, String artifact) {
        if (!Files.exists(root)) {
            throw ProblemException.invalidField("source.artifact",
                    "'" + artifact + "' does not exist on the job service's machine; give a directory or file path");
        }
        try {
            List<Path> files = listFiles(root);
            MessageDigest sha = sha256();
            long total = 0;
            for (Path file : files) {
                String relative = Files.isDirectory(root) ? root.relativize(file).toString() : file.getFileName().toString();
                sha.update(relative.getBytes(StandardCharsets.UTF_8));
                sha.update((byte) 0);
                sha.update((byte) (Files.isExecutable(file) ? 1 : 0));
                total += Files.size(file);
                if (total > maxBytes) {
                    throw ProblemException.invalidField("source.artifact",
                            "code is larger than " + maxBytes + " bytes; ship it as an image or a git repository");
                }
                try (InputStream in = Files.newInputStream(file)) {
                    byte[] buffer = new byte[65536];
                    int n;
                    while ((n = in.read(buffer)) > 0) {
                        sha.update(buffer, 0, n);
                    }
                }
                sha.update((byte) 0);
            }
            String hex = HexFormat.of().formatHex(sha.digest());
            Path snapshot = artifactStore.toAbsolutePath().resolve("sha256-" + hex);
            if (!Files.exists(snapshot)) {
                copyInto(root, files, snapshot);
            }
            JobSource source = new JobSource(JobSource.CODE, null, null, null, null, artifact, snapshot.toString());
            return new Resolved(source, "sha256:" + hex);
        } catch (IOException e) {
            throw ProblemException.invalidField("source.artifact", "cannot read '" + artifact + "': " + e.getMessage());
        }
    }

    /**
     * {@code path} when it lies under one of {@code launch.code.server-paths} — by its name and, once it exists, by
     * where its links lead — else a 400 that says how to send the code instead. A path outside them is refused
     * before it is looked at, so the answer does not say whether it exists.
     */
    Path allowedServerPath(Path named, String artifact) {
        Path path = named.toAbsolutePath().normalize();
        List<Path> roots = serverPaths.orElse(List.of());
        String upload = "upload the code instead: launch job create NAME --code DIR, or POST it as a gzipped tar "
                + "to /api/v1/uploads and give the artifact it answers";
        if (roots.isEmpty()) {
            throw ProblemException.invalidField("source.artifact", "this job service takes no code from paths on "
                    + "its machine (launch.code.server-paths is empty); " + upload);
        }
        String allowed = "the directories this job service takes code from (launch.code.server-paths: "
                + roots.stream().map(Path::toString).collect(java.util.stream.Collectors.joining(", ")) + "); "
                + upload;
        if (roots.stream().noneMatch(r -> path.startsWith(r.toAbsolutePath().normalize()))) {
            throw ProblemException.invalidField("source.artifact", "'" + artifact + "' is not under " + allowed);
        }
        if (!Files.exists(path)) {
            return path;
        }
        try {
            Path real = path.toRealPath();
            for (Path r : roots) {
                if (Files.exists(r) && real.startsWith(r.toRealPath())) {
                    return path;
                }
            }
        } catch (IOException e) {
            throw ProblemException.invalidField("source.artifact", "cannot read '" + artifact + "': " + e.getMessage());
        }
        throw ProblemException.invalidField("source.artifact", "'" + artifact + "' leads by a link out of "
                + allowed);
    }

    private List<Path> listFiles(Path root) throws IOException {
        if (Files.isRegularFile(root)) {
            return List.of(root);
        }
        List<Path> files = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) && !isInGitDir(root, p)) {
                    files.add(p);
                    if (files.size() > maxFiles) {
                        throw ProblemException.invalidField("source.artifact",
                                "code holds more than " + maxFiles + " files; ship it as an image or a git repository");
                    }
                }
            }
        }
        files.sort(null);
        return files;
    }

    private static boolean isInGitDir(Path root, Path p) {
        for (Path part : root.relativize(p)) {
            if (part.toString().equals(".git")) {
                return true;
            }
        }
        return false;
    }

    private static void copyInto(Path root, List<Path> files, Path snapshot) throws IOException {
        Files.createDirectories(snapshot.getParent());
        Path staging = Files.createTempDirectory(snapshot.getParent(), ".staging-");
        for (Path file : files) {
            Path target = Files.isDirectory(root) ? staging.resolve(root.relativize(file).toString())
                    : staging.resolve(file.getFileName().toString());
            Files.createDirectories(target.getParent());
            Files.copy(file, target, StandardCopyOption.COPY_ATTRIBUTES);
        }
        try {
            Files.move(staging, snapshot, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileAlreadyExistsException | DirectoryNotEmptyException raced) {
            deleteTree(staging);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private static Path toPath(String artifact) {
        if (artifact.startsWith("file:")) {
            return Path.of(URI.create(artifact));
        }
        if (artifact.contains("://")) {
            throw ProblemException.invalidField("source.artifact",
                    "only local paths and file:// URIs are supported for code artifacts so far");
        }
        Path path = Path.of(artifact);
        if (!path.isAbsolute()) {
            throw ProblemException.invalidField("source.artifact",
                    "give an absolute path ('" + artifact + "' is relative to nothing the service knows)");
        }
        return path.normalize();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String firstLine(String s) {
        String trimmed = s.strip();
        int nl = trimmed.indexOf('\n');
        return nl < 0 ? trimmed : trimmed.substring(0, nl);
    }
}
