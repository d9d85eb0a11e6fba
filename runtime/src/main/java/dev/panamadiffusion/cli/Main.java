package dev.panamadiffusion.cli;

import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.io.DemoModel;
import dev.panamadiffusion.pipeline.InvalidRequestException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * {@code pdiff}: the command line. Every failure the user can cause (a bad option, a missing model folder, an invalid
 * request, a model that does not load) is one line on standard error and a non-zero exit code: 2 for everything the
 * user can fix (arguments, the output path, the model folder and its files, a tokenizer that does not match its text
 * encoder, a backend that does not exist or cannot run here, a model too large for the device's memory, a LoRA that
 * does not fit the model), 1 for failures while running (out of device memory while generating included). Set
 * {@code PDIFF_DEBUG=1} to get stack traces too.
 */
@Command(name = "pdiff", mixinStandardHelpOptions = true, version = "pdiff 0.1.0",
        description = "Stable Diffusion in Java (FFM + Vector API).",
        subcommands = {GenerateCommand.class, VerifyCommand.class, ServeCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    /** Exit code for everything the user can fix: arguments, the output path, the model folder, the backend. */
    public static final int EXIT_USAGE = 2;
    /** Exit code for failures while running. */
    public static final int EXIT_FAILURE = 1;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line, writing to standard output and error. */
    public static CommandLine commandLine() {
        CommandLine cmd = new CommandLine(new Main());
        cmd.setParameterExceptionHandler(Main::onBadArguments);
        cmd.setExecutionExceptionHandler(Main::onFailure);
        return cmd;
    }

    /** Runs {@code args} with the given streams (tests, embedding); returns the exit code. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cmd = commandLine();
        cmd.setOut(out);
        cmd.setErr(err);
        try {
            return cmd.execute(args);
        } finally {
            out.flush();
            err.flush();
        }
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    private static int onBadArguments(CommandLine.ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        String where = cmd.getCommandName().equals("pdiff") ? "pdiff" : "pdiff " + cmd.getCommandName();
        cmd.getErr().println(where + ": " + firstLine(e.getMessage()) + " (see " + where + " --help)");
        debug(cmd, e);
        return EXIT_USAGE;
    }

    private static int onFailure(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
        String msg = e instanceof InvalidRequestException bad ? bad.describe(GenerateCommand.OPTION_NAMES) : describe(e);
        cmd.getErr().println("error: " + msg);
        debug(cmd, e);
        return e instanceof InvalidRequestException || e instanceof UsageException || e instanceof ConfigException
                || e instanceof dev.panamadiffusion.lora.LoraException ? EXIT_USAGE : EXIT_FAILURE;
    }

    /**
     * One line for any exception, without Java class names: its message (its first line), or, for a failure nobody
     * words for users, that it is unexpected and how to see the stack trace.
     */
    static String describe(Throwable e) {
        String msg = e.getMessage();
        if (e instanceof OutOfMemoryError) {
            return "out of memory (" + msg + "); give Java more with PDIFF_JAVA_OPTS=-Xmx…";
        }
        boolean expected = e instanceof IllegalArgumentException || e instanceof IllegalStateException
                || e instanceof java.io.IOException || e instanceof java.io.UncheckedIOException
                || e instanceof java.util.concurrent.CancellationException || e instanceof UsageException
                || e instanceof dev.panamadiffusion.io.SafeTensorsException || e instanceof dev.panamadiffusion.weights.WeightBindingException
                || e instanceof dev.panamadiffusion.backend.OutOfDeviceMemoryException;
        if (msg == null || msg.isBlank() || !expected) {
            String what = msg == null || msg.isBlank() ? "" : ": " + firstLine(msg);
            return "unexpected failure" + what + " (PDIFF_DEBUG=1 prints the stack trace)";
        }
        return firstLine(msg);
    }

    private static String firstLine(String s) {
        if (s == null) return "invalid arguments";
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }

    private static void debug(CommandLine cmd, Throwable e) {
        if ("1".equals(System.getenv("PDIFF_DEBUG")) || Boolean.getBoolean("pdiff.debug")) e.printStackTrace(cmd.getErr());
    }

    /** {@code --lora FILE[:SCALE]} arguments as specs, each file checked to exist (a {@link UsageException} otherwise). */
    static java.util.List<dev.panamadiffusion.lora.LoraSpec> loraSpecs(java.util.List<String> args) {
        java.util.List<dev.panamadiffusion.lora.LoraSpec> out = new java.util.ArrayList<>();
        for (String a : args) {
            dev.panamadiffusion.lora.LoraSpec spec;
            try {
                spec = dev.panamadiffusion.lora.LoraSpec.parse(a);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            if (!java.nio.file.Files.isRegularFile(spec.file())) throw new UsageException("--lora " + a + ": no such file " + spec.file());
            out.add(spec);
        }
        return out;
    }

    /** {@code model} when given, else the demo model shipped with the checkout ({@link DemoModel#locate()}). */
    static Path modelOrDemo(Path model) {
        if (model != null) return model;
        try {
            return DemoModel.locate();
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /**
     * {@code action}'s result; a failure the user can fix (a bad or missing file, a config or weights that are refused)
     * becomes a {@link UsageException}, exit code 2.
     */
    static <T> T usage(java.util.function.Supplier<T> action) {
        try {
            return action.get();
        } catch (IllegalArgumentException | java.io.UncheckedIOException | dev.panamadiffusion.io.SafeTensorsException
                 | dev.panamadiffusion.weights.WeightBindingException
                 | dev.panamadiffusion.backend.OutOfDeviceMemoryException e) { // a model too large for the device
            throw new UsageException(describe(e));
        }
    }

    /** A bad argument found after parsing (a missing folder, an unknown scheduler): exit code 2, one line. */
    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message);
        }
    }
}
