package dev.launch.common.job;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * Where a job's code comes from. Exactly one shape per {@link #type}:
 * {@code image} (container image reference), {@code git} (remote + ref, resolved to a commit when the
 * version is created) or {@code code} (a local directory or URI, snapshotted by content).
 *
 * @param type     {@code image}, {@code git} or {@code code}
 * @param image    image reference, for {@code image}
 * @param remote   git remote URL or path, for {@code git}
 * @param ref      branch, tag or commit the user asked for, for {@code git}
 * @param commit   the commit {@code ref} resolved to when the version was created, for {@code git}
 * @param artifact the path or URI the user gave, for {@code code}
 * @param snapshot where the registry stored the content-addressed copy of {@code artifact}, for {@code code}
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record JobSource(String type, String image, String remote, String ref, String commit, String artifact,
                        String snapshot) {
    public static final String IMAGE = "image";
    public static final String GIT = "git";
    public static final String CODE = "code";
}
