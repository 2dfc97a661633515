package dev.launch.cli;

import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.util.Map;

/**
 * {@code launch}: jobs, queues, runs and agents from a terminal. {@code ./launch} runs {@code up}, {@code down},
 * {@code agent}, {@code status} and {@code bench} itself and hands every other command here.
 */
@Command(name = "launch", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Launch ML work on local processes, containers, Kubernetes and SageMaker.",
        subcommands = {JobCommands.class, QueueCommands.class, RunCommand.class, RunsCommands.class,
                RunsCommands.Agents.class, Main.Completion.class},
        footer = {"", "Servers: --job-url, --queue-url, --status-url, then LAUNCH_JOB_URL, LAUNCH_QUEUE_URL, "
                + "LAUNCH_STATUS_URL, then ~/.config/launch/config.yaml (jobUrl, queueUrl, statusUrl, token, output), "
                + "then the local stack (127.0.0.1:8081, 8082, 8084).",
                "", "Stack commands, run by ./launch itself: up, down, agent, status, bench (./launch --help).",
                "", "Exit codes: 0 done; 1 a followed run failed or was stopped; 2 a usage or server error."})
public final class Main {
    private static volatile Map<String, String> env = System.getenv();

    private Main() {
    }

    public static void main(String[] args) {
        int code = run(args, System.getenv(), new PrintWriter(System.out, true), new PrintWriter(System.err, true));
        Api.endHttpThreads();
        System.exit(code);
    }

    /** Runs one command line against {@code environment}; answers the exit code. */
    public static int run(String[] args, Map<String, String> environment, PrintWriter out, PrintWriter err) {
        env = environment;
        CommandLine cli = commandLine();
        cli.setOut(out);
        cli.setErr(err);
        return cli.execute(args);
    }

    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        helpEverywhere(cli);
        cli.setExecutionExceptionHandler((e, command, parsed) -> {
            if (e instanceof CliException problem) {
                command.getErr().println("launch: " + problem.getMessage());
                command.getErr().flush();
                return problem.exitCode();
            }
            command.getErr().println("launch: " + e);
            command.getErr().flush();
            return CliException.USAGE;
        });
        cli.setParameterExceptionHandler((e, args) -> {
            CommandLine command = e.getCommandLine();
            command.getErr().println("launch: " + e.getMessage().replaceFirst("^Error: ", ""));
            if (!CommandLine.UnmatchedArgumentException.printSuggestions(e, command.getErr())) {
                command.getErr().println("See '" + command.getCommandSpec().qualifiedName() + " --help'.");
            }
            command.getErr().flush();
            return CliException.USAGE;
        });
        return cli;
    }

    /** {@code --help} (and {@code --version}) on every command, not only on {@code launch}. */
    private static void helpEverywhere(CommandLine command) {
        command.getCommandSpec().mixinStandardHelpOptions(true);
        command.getSubcommands().values().forEach(Main::helpEverywhere);
    }

    static Map<String, String> env() {
        return env;
    }

    @Command(name = "completion", description = "Print a shell completion script for bash or zsh.",
            footer = {"", "Examples:", "  source <(./launch completion bash)",
                    "  ./launch completion zsh > \"${fpath[1]}/_launch\"   # or, in ~/.zshrc: source <(./launch completion zsh)"})
    static final class Completion implements java.util.concurrent.Callable<Integer> {
        @Parameters(paramLabel = "SHELL", defaultValue = "bash", description = "bash (default) or zsh.")
        String shell;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            String script = AutoComplete.bash("launch", spec.root().commandLine());
            PrintWriter out = spec.commandLine().getOut();
            switch (shell) {
                case "bash" -> out.print(script);
                // picocli's script is bash's; zsh runs it through its bash-completion layer
                case "zsh" -> out.print("autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n"
                        + script);
                default -> throw CliException.usage("completion for '" + shell + "': bash or zsh");
            }
            out.flush();
            return 0;
        }
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = Main.class.getPackage().getImplementationVersion();
            return new String[]{"launch " + (version == null ? "(development build)" : version)};
        }
    }
}
