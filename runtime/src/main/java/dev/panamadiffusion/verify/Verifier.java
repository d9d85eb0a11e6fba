package dev.panamadiffusion.verify;

import dev.panamadiffusion.backend.GraphBackend;
import dev.panamadiffusion.pipeline.EagerUNet;
import dev.panamadiffusion.pipeline.GraphedUNet;
import dev.panamadiffusion.pipeline.UNetRunner;
import dev.panamadiffusion.backend.Backend;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Runs every check the reference files under a folder allow (docs/VERIFY.md) on one backend: tokenizer cases, the
 * torch-compatible noise generator, text encoder, UNet and VAE forward passes, the VAE's tiled passes, flat weight
 * files, and every recorded sampling loop. A check that cannot run (a missing tensor, a model that fails to load) is reported as failed with the
 * reason; nothing stops the remaining checks.
 */
public final class Verifier {
    /** Added to the names of loop checks that ran through CUDA graphs. */
    static final String GRAPH_SUFFIX = " [cuda graph]";

    private final Backend backend;
    private final Tolerances tolerances;

    public Verifier(Backend backend, Tolerances tolerances) {
        this.backend = backend;
        this.tolerances = tolerances;
    }

    /** Summary of a run. */
    public record Summary(int passed, int failed) {
        public int total() { return passed + failed; }
    }

    /** Verifies everything under {@code dir}, handing each result to {@code sink} as soon as it is known. */
    public Summary run(Path dir, Consumer<CheckResult> sink) {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("reference folder " + dir + " does not exist");
        List<ReferenceSet> sets = ReferenceSet.find(dir);
        if (sets.isEmpty()) {
            throw new IllegalArgumentException("no reference files in " + dir + " (expected tokenizations.json, "
                    + ReferenceSet.RANDN + ", <component>_io.safetensors, loop_*, img2img_*, inpaint_* or vae_tiling_*.safetensors; see docs/VERIFY.md)");
        }
        int[] counts = new int[2];
        Context ctx = new Context(backend, tolerances, r -> {
            counts[r.passed() ? 0 : 1]++;
            sink.accept(r);
        });
        for (ReferenceSet set : sets) runSet(set, ctx);
        return new Summary(counts[0], counts[1]);
    }

    /** All results under {@code dir} as a list. */
    public List<CheckResult> runAll(Path dir) {
        List<CheckResult> out = new ArrayList<>();
        run(dir, out::add);
        return out;
    }

    private void runSet(ReferenceSet set, Context ctx) {
        try (Arena arena = Arena.ofShared(); Models models = new Models(set, backend)) {
            if (set.tokenizations() != null) guarded(ctx, set.label() + "tokenizer", () -> TokenizerChecks.run(set, ctx));
            if (Files.isRegularFile(set.dir().resolve(ReferenceSet.RANDN))) {
                guarded(ctx, set.label() + "torch randn", () -> RngChecks.run(set, ctx, arena));
            }
            if (Files.isRegularFile(set.dir().resolve(ReferenceSet.N_ITER))) {
                guarded(ctx, set.label() + "n_iter", () -> RngChecks.nIter(set, ctx, arena));
            }
            for (String component : ReferenceSet.COMPONENTS) {
                if (Files.isRegularFile(set.flatWeights(component))) {
                    guarded(ctx, set.label() + component + " weights", () -> ComponentChecks.flatWeights(set, component, ctx, arena));
                }
            }
            if (Files.isRegularFile(set.io("text_encoder"))) {
                guarded(ctx, set.label() + "text_encoder", () -> ComponentChecks.textEncoder(set, models, ctx, arena));
            }
            if (Files.isRegularFile(set.io("text_encoder_2"))) {
                guarded(ctx, set.label() + "text_encoder_2", () -> ComponentChecks.textEncoder2(set, models, ctx, arena));
            }
            if (Files.isRegularFile(set.io("unet"))) {
                guarded(ctx, set.label() + "unet", () -> ComponentChecks.unet(set, models, ctx, arena));
            }
            if (Files.isRegularFile(set.io("vae"))) {
                guarded(ctx, set.label() + "vae", () -> ComponentChecks.vae(set, models, ctx, arena));
            }
            for (Path file : set.vaeTilings()) {
                String n = file.getFileName().toString();
                guarded(ctx, set.label() + n.substring(0, n.length() - ".safetensors".length()),
                        () -> VaeTilingChecks.run(set, file, models, ctx, arena));
            }
            // every loop eagerly; on a GraphBackend (CUDA) also through recorded CUDA graphs, as the pipeline runs it
            for (Path file : set.imageLoops()) {
                eagerAndGraphed(ctx, set, models, file, (unet, suffix) -> ImageLoopChecks.run(set, file, models, unet, suffix, ctx, arena));
            }
            for (Path loop : set.loops()) {
                eagerAndGraphed(ctx, set, models, loop, (unet, suffix) -> LoopChecks.run(set, loop, models, unet, suffix, ctx, arena));
            }
        }
    }

    /**
     * {@code replay} of {@code file} with an eager UNet, and on a {@link GraphBackend} (CUDA) once more through recorded
     * CUDA graphs (its results named with {@link #GRAPH_SUFFIX}), each guarded on its own.
     */
    private void eagerAndGraphed(Context ctx, ReferenceSet set, Models models, Path file,
                                 java.util.function.BiConsumer<UNetRunner, String> replay) {
        String n = file.getFileName().toString();
        String name = set.label() + n.substring(0, n.length() - ".safetensors".length());
        guarded(ctx, name, () -> {
            try (UNetRunner eager = new EagerUNet(models.unet(), backend)) {
                replay.accept(eager, "");
            }
        });
        if (backend instanceof GraphBackend g) {
            guarded(ctx, name + GRAPH_SUFFIX, () -> {
                try (UNetRunner graphed = new GraphedUNet(models.unet(), g, GraphedUNet.DEFAULT_MAX_GRAPHS)) {
                    replay.accept(graphed, GRAPH_SUFFIX);
                }
            });
        }
    }

    /** Runs {@code check}; an exception becomes one failed result named {@code name}. */
    private static void guarded(Context ctx, String name, Runnable check) {
        try {
            check.run();
        } catch (RuntimeException | OutOfMemoryError | StackOverflowError e) {
            String msg = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().strip();
            int nl = msg.indexOf('\n');
            ctx.report(CheckResult.error(name, "error: " + (nl < 0 ? msg : msg.substring(0, nl) + " …")));
        }
    }
}
