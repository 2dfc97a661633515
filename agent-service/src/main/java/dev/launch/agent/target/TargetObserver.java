package dev.launch.agent.target;

/**
 * What a target tells the agent about one attempt. After the first final call ({@link #exited},
 * {@link #failed}, {@link #stopped}, {@link #preempted}) the rest are ignored.
 */
public interface TargetObserver {
    /**
     * Called right before the step that starts work (a process spawned, a container started): records the launch
     * on the run's command partition and says whether it may go ahead. False when the run was handed back or moved
     * meanwhile, or the record failed: the target then starts nothing and reports nothing more.
     */
    boolean launching();

    /** Why the work is not running yet, or what it waits for ("pulling image", "0/3 nodes have a free GPU"). */
    void progressed(String reason);

    /** The work runs. */
    void running();

    /**
     * One line of output.
     *
     * @param stream   {@code stdout} or {@code stderr}
     * @param position the line's index in the attempt's output on the target (0, 1, 2 ...)
     */
    void output(String stream, String line, long position);

    /**
     * One line of output of one of the attempt's processes ({@code source}: a pod of a multi-pod workload), whose
     * positions are in order within that source only.
     */
    default void output(String stream, String source, String line, long position) {
        output(stream, line, position);
    }

    /** The work ended by itself with {@code exitCode}. */
    void exited(int exitCode);

    /** The work could not be prepared, started or kept; {@code exitCode} when there is one. */
    void failed(String stage, String reason, Integer exitCode);

    /** The work ended because it was stopped; {@code exitCode} when the target gives one. */
    void stopped(Integer exitCode);

    /** The target evicted the work. */
    void preempted(String reason);
}
