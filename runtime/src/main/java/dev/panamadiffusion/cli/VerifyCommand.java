package dev.panamadiffusion.cli;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.pipeline.BackendFactory;
import dev.panamadiffusion.verify.Tolerances;
import dev.panamadiffusion.verify.Verifier;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code pdiff verify DIR}: checks this runtime against reference tensors (docs/VERIFY.md). */
@Command(name = "verify", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Check every component found in a folder of reference tensors (tokenizer cases, noise generator,"
                + " text encoder, UNet, VAE, sampling loops) against this runtime.",
                "Prints one line per check (name, max abs error, max relative error, tolerance, PASS/FAIL), then"
                        + " 'N passed, M failed'; exits 1 when any check failed. File layout: docs/VERIFY.md."})
public final class VerifyCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DIR", description = "Reference folder (sub-folders holding reference files are checked too).")
    Path dir;

    @Option(names = "--backend", defaultValue = "cpu", paramLabel = "cpu|cuda|cuda-emu|auto",
            description = "Backend under test. Default: ${DEFAULT-VALUE}.")
    String backend;

    @Option(names = "--tolerance-scale", defaultValue = "1", paramLabel = "X",
            description = "Multiply every model and loop tolerance by X. Default: ${DEFAULT-VALUE}.")
    double toleranceScale;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (!Files.isDirectory(dir)) throw new Main.UsageException("reference folder " + dir + " does not exist");
        if (!(toleranceScale > 0) || Double.isInfinite(toleranceScale)) {
            throw new Main.UsageException("--tolerance-scale must be a positive number, got " + toleranceScale);
        }
        try (Backend b = BackendFactory.create(backend, err::println)) {
            Tolerances tolerances = Tolerances.forBackend(b.name()).scaled(toleranceScale);
            Verifier.Summary s = new Verifier(b, tolerances).run(dir, r -> {
                out.println(r.line());
                out.flush();
            });
            out.println(s.passed() + " passed, " + s.failed() + " failed");
            return s.failed() == 0 ? 0 : Main.EXIT_FAILURE;
        }
    }
}
