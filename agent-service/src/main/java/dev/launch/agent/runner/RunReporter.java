package dev.launch.agent.runner;

/** What a runner tells the agent about one run. */
public interface RunReporter {
    void starting();

    /**
     * Called right before the work starts (a process spawned, a job submitted): records the launch and says
     * whether it may go ahead. False when the run was handed back to its queue meanwhile (its agent was
     * thought lost) or could not be recorded: the runner then starts nothing and reports nothing more.
     */
    boolean launching();

    void running(String handle);

    /** A line of output ({@code stdout} or {@code stderr}). */
    void output(String stream, String line);

    /** The work ended by itself with {@code exitCode}. */
    void exited(int exitCode);

    /** The work ended because it was stopped; {@code exitCode} when the target gives one. */
    void stopped(Integer exitCode);

    /** The run could not be prepared or started. */
    void failed(String stage, String reason, Integer exitCode);
}
