package dev.launch.cli;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** A command that talks to the services: the global options, the API and the output, made once per command. */
abstract class Base implements Callable<Integer> {
    @Mixin
    Global global;

    @Spec
    CommandSpec spec;

    private Settings settings;
    private Api api;
    private Output output;

    Settings settings() {
        if (settings == null) {
            settings = Settings.resolve(global.flags(), Main.env());
        }
        return settings;
    }

    Api api() {
        if (api == null) {
            api = new Api(settings());
        }
        return api;
    }

    Output out() {
        if (output == null) {
            output = new Output(settings().output(), spec.commandLine().getOut());
        }
        return output;
    }

    @Override
    public final Integer call() {
        return execute();
    }

    /** Does the command; answers its exit code (0) or throws a {@link CliException}. */
    abstract int execute();
}
