package dev.panamadiffusion.verify;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.pipeline.Denoising;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.Latents;
import dev.panamadiffusion.pipeline.PipelineInputs;
import dev.panamadiffusion.pipeline.RngKind;
import dev.panamadiffusion.pipeline.SdxlOptions;
import dev.panamadiffusion.pipeline.StableDiffusionPipeline;
import dev.panamadiffusion.pipeline.UNetRunner;
import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.rng.TorchCpuGenerator;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Replays a recorded sampling loop ({@code loop_<scheduler>[_cfg<g>].safetensors}) through the production
 * {@link StableDiffusionPipeline} (the same {@code begin}/{@code step}/{@code decode} that {@code pdiff generate} and
 * the server run), with the scheduler built from {@code scheduler_<scheduler>/scheduler_config.json}, the set's UNet
 * and VAE, and the loop's own embeddings, initial noise and guidance scale given as {@link PipelineInputs}; every
 * recorded intermediate is compared on the way, as the pipeline's {@link dev.panamadiffusion.pipeline.StepObserver}
 * hands it out. The replay
 * runs free (each step starts from this runtime's previous result, not the reference's), so the per-step errors show
 * how far the whole pipeline drifts. Stochastic samplers draw the recorded {@code step<i>_ancestral_noise}.
 */
final class LoopChecks {
    private LoopChecks() {}

    /**
     * Replays {@code loopFile} with {@code unet} computing each step's UNet pass (eager, or CUDA-graph replays);
     * {@code suffix} tells the two apart in the check names ("" or " [cuda graph]").
     */
    static void run(ReferenceSet set, Path loopFile, Models models, UNetRunner unet, String suffix, Context ctx, Arena arena) {
        String file = loopFile.getFileName().toString();
        String name = set.label() + file.substring(0, file.length() - ".safetensors".length()) + suffix;
        String schedulerName = ReferenceSet.loopScheduler(loopFile);
        Path configFile = set.dir().resolve("scheduler_" + schedulerName).resolve("scheduler_config.json");
        if (!Files.isRegularFile(configFile)) {
            ctx.report(CheckResult.error(name, "no scheduler_" + schedulerName + "/scheduler_config.json beside it"));
            return;
        }
        Map<String, Tensor> f = SafeTensors.open(loopFile, arena).tensors();
        Tolerances tol = ctx.tolerances();
        double[] refTimesteps = ComponentChecks.doubles(ComponentChecks.require(f, "timesteps", loopFile));
        Tensor noise = ComponentChecks.require(f, "noise", loopFile);                        // [B, 4, h, w]
        Tensor uncond = f.get("uncond_emb");                      // [1 or B, 77, D]; unguided loops need none
        Tensor cond = ComponentChecks.require(f, "cond_emb", loopFile);                      // [1 or B, 77, D]
        int steps = f.containsKey("num_inference_steps") ? (int) f.get("num_inference_steps").getLong(0) : refTimesteps.length;
        float g = f.containsKey("guidance_scale") ? f.get("guidance_scale").getFloat(0) : 7.5f;
        boolean decode = f.containsKey("image_raw") || f.containsKey("image_01");
        long noiseSeed = f.containsKey("noise_seed") ? f.get("noise_seed").getLong(0) : -1;
        boolean selfSeeded = noiseSeed >= 0 && !f.containsKey("generator_seed");
        boolean perImage = perImage(f);
        // SDXL's denoising_end stops the loop early: only the steps that ran are recorded
        int ran = f.containsKey("denoising_end") ? recordedSteps(f) : refTimesteps.length;
        String incomplete = missingKeys(f, ran, decode && !models.has("vae"));
        if (incomplete != null) {
            ctx.report(CheckResult.error(name, loopFile.getFileName() + ": " + incomplete));
            return;
        }

        if (uncond == null && g > 1 && models.unet().config().timeCondProjDim() == null) {
            ctx.report(CheckResult.error(name, loopFile.getFileName() + " records no uncond_emb, but guidance " + g
                    + " on a UNet without time_cond_proj_dim runs classifier-free guidance, which needs it"));
            return;
        }

        // the production pipeline, given the loop's embeddings, initial noise and (ancestral) noise draws
        SchedulerConfig schedulerConfig = SchedulerConfig.read(configFile);
        try (StableDiffusionPipeline pipeline = StableDiffusionPipeline.fromComponents(ctx.backend(), models.unet(), unet,
                decode ? models.vae() : null, schedulerConfig, schedulerName)) {
            int scale = pipeline.sizeRule().vaeScaleFactor();
            // with noise_seed (and no separate generator_seed) the pipeline seeds itself, as from a request's seed
            // SDXL: the recorded time ids become the request's size conditioning (the pipeline makes its rows itself)
            SdxlOptions sdxl;
            try {
                sdxl = sdxlOptions(f);
            } catch (IllegalArgumentException e) {
                ctx.report(CheckResult.error(name, loopFile.getFileName() + ": " + e.getMessage()));
                return;
            }
            GenerationRequest request = new GenerationRequest("", "", steps, g, null, selfSeeded ? noiseSeed : 0,
                    Math.toIntExact(noise.dim(3)) * scale, Math.toIntExact(noise.dim(2)) * scale,
                    Math.toIntExact(noise.dim(0)), 0, RngKind.TORCH, sdxl, perImage);
            PipelineInputs inputs = (selfSeeded ? new PipelineInputs(cond, uncond, null, null)
                    : new PipelineInputs(cond, uncond, noise, new RecordedNoise(f, refTimesteps.length, name)))
                    .withPooled(f.get("cond_pooled"), f.get("uncond_pooled"));                  // SDXL: [1 or B, P]
            Denoising d = pipeline.begin(request, inputs);
            if (f.containsKey("add_time_ids") && f.containsKey("cond_pooled")) {  // the pipeline's own time ids
                Tensor rows = timeIdRows(f, d.guided(), Math.toIntExact(noise.dim(0)));            // [(2)B, 6]
                Tensor pooledRows = d.addEmbeds().slice(1, 0, f.get("cond_pooled").dim(1)).contiguous();
                ctx.report(Compare.tensors(name + " add_embeds (pooled, " + (f.containsKey("negative_add_time_ids")
                                ? "negative_add_time_ids, " : "") + "add_time_ids)", d.addEmbeds(),
                        models.unet().addEmbeds(pooledRows, rows), tol.loop()));
            }

            // schedule
            double[] timesteps = d.scheduler().timesteps();
            List<CheckResult> schedule = new ArrayList<>();
            schedule.add(Compare.arrays("timesteps", timesteps, refTimesteps, tol.schedule()));
            if (f.containsKey("init_noise_sigma")) {
                schedule.add(Compare.arrays("init_noise_sigma", new double[] {d.scheduler().initNoiseSigma()},
                        new double[] {f.get("init_noise_sigma").getDouble(0)}, tol.schedule()));
            }
            ctx.report(Compare.worst(name + " schedule", schedule.toArray(CheckResult[]::new)));
            if (timesteps.length != refTimesteps.length) return; // the per-step comparison would be meaningless
            if (f.containsKey("init_latents")) {
                ctx.report(Compare.tensors(name + " init latents", d.latents(), f.get("init_latents"), tol.loop()));
            }
            // the two UNet halves exist only with classifier-free guidance (guidance > 1, no time_cond_proj_dim)
            if (f.containsKey("step0_noise_uncond") && !d.guided()) {
                ctx.report(CheckResult.error(name + " guidance", "the file records noise_uncond/noise_text but the pipeline"
                        + " runs no classifier-free guidance at guidance " + g
                        + (d.timestepCond() != null ? " (the UNet has time_cond_proj_dim)" : "")));
                return;
            }
            if (f.containsKey("timestep_cond") || d.timestepCond() != null) {
                ctx.report(f.containsKey("timestep_cond") && d.timestepCond() != null
                        ? Compare.tensors(name + " timestep_cond (embedding of w = " + (g - 1) + ")", d.timestepCond(),
                                f.get("timestep_cond"), tol.loop())
                        : CheckResult.error(name + " timestep_cond", d.timestepCond() == null
                                ? "the file records one but the UNet has no time_cond_proj_dim"
                                : "the UNet has time_cond_proj_dim but the file records no timestep_cond"));
            }

            // every step's intermediates, as the pipeline hands them out
            int batch = Math.toIntExact(noise.dim(0));
            d.observe(step -> {
                String p = "step" + step.index() + "_";
                List<CheckResult> parts = new ArrayList<>();
                compareIfPresent(parts, "model_input", step.modelInput(), f, p + "model_input", tol);
                if (d.guided()) {
                    compareIfPresent(parts, "noise_uncond", step.noisePred().slice(0, 0, batch), f, p + "noise_uncond", tol);
                    compareIfPresent(parts, "noise_text", step.noisePred().slice(0, batch, 2L * batch), f, p + "noise_text", tol);
                }
                compareIfPresent(parts, "guided", step.guided(), f, p + "guided", tol);
                compareIfPresent(parts, "latents_out", step.latents(), f, p + "latents_out", tol);
                if (!parts.isEmpty()) {
                    ctx.report(Compare.worst(name + " step " + step.index() + " (t="
                            + ComponentChecks.list(new double[] {step.timestep()}).replaceAll("[\\[\\]]", "") + ")",
                            parts.toArray(CheckResult[]::new)));
                }
            });
            while (!d.finished()) pipeline.step(List.of(d));
            if (f.containsKey("final_latents")) {
                ctx.report(Compare.tensors(name + " final latents", d.latents(), f.get("final_latents"), tol.loop()));
            }
            if (decode) {
                Tensor raw = pipeline.decode(d.latents());                                    // [B, 3, H, W]
                if (f.containsKey("image_raw")) ctx.report(Compare.tensors(name + " image_raw", raw, f.get("image_raw"), tol.loop()));
                if (f.containsKey("image_01")) {
                    ctx.report(Compare.tensors(name + " image_01", Latents.denormalize(raw), f.get("image_01"), tol.loop()));
                }
            }
        }
        if (f.containsKey("generator_seed") && f.containsKey("step0_ancestral_noise")) {
            ancestralFromSeed(name, f, refTimesteps.length, ctx);
        }
        if (noiseSeed >= 0) noiseFromSeed(name, f, noiseSeed, perImage, selfSeeded, refTimesteps.length, ctx);
    }

    /**
     * The request's {@link SdxlOptions} from a loop's {@code add_time_ids} [1, 6] (original (h, w), crop (top, left),
     * target (h, w)) and, when the unconditional rows had their own, {@code negative_add_time_ids} [1, 6];
     * {@link SdxlOptions#NONE} without them. An SDXL refiner's [1, 5] (original (h, w), crop (top, left), aesthetic
     * score) give the sizes and the aesthetic scores; {@code denoising_start} and {@code denoising_end} [] the
     * denoising window. Time ids that are not whole sizes and crops are an {@link IllegalArgumentException}.
     */
    static SdxlOptions sdxlOptions(Map<String, Tensor> f) {
        SdxlOptions o = SdxlOptions.NONE;
        Double score = null, negativeScore = null;
        if (f.containsKey("add_time_ids")) {
            float[] v = timeIds(f.get("add_time_ids"), "add_time_ids");
            o = o.withSizes(size(v, 0), new SdxlOptions.Crop((int) v[2], (int) v[3]), v.length == 6 ? size(v, 4) : null);
            if (v.length == 5) score = Double.parseDouble(Float.toString(v[4]));
        }
        if (f.containsKey("negative_add_time_ids")) {
            float[] v = timeIds(f.get("negative_add_time_ids"), "negative_add_time_ids");
            o = o.withNegativeSizes(size(v, 0), new SdxlOptions.Crop((int) v[2], (int) v[3]), v.length == 6 ? size(v, 4) : null);
            if (v.length == 5) negativeScore = Double.parseDouble(Float.toString(v[4]));
        }
        if (score != null || negativeScore != null) o = o.withAestheticScores(score, negativeScore);
        Double start = f.containsKey("denoising_start") ? (double) f.get("denoising_start").getFloat(0) : null;
        Double end = f.containsKey("denoising_end") ? (double) f.get("denoising_end").getFloat(0) : null;
        return start == null && end == null ? o
                : o.withDenoising(start == null ? null : Double.parseDouble(Float.toString(start.floatValue())),
                        end == null ? null : Double.parseDouble(Float.toString(end.floatValue())));
    }

    /** How many steps a file records ({@code step<i>_latents_out}, else {@code step<i>_guided}, from 0 on). */
    static int recordedSteps(Map<String, Tensor> f) {
        String key = f.containsKey("step0_latents_out") ? "_latents_out" : "_guided";
        int n = 0;
        while (f.containsKey("step" + n + key)) n++;
        return n;
    }

    /** Time ids [1, 6] or [1, 5] (the refiner's, whose last is an aesthetic score); the sizes and crops must be whole. */
    private static float[] timeIds(Tensor t, String key) {
        float[] v = t.toFloatArray();
        if (v.length != 6 && v.length != 5) {
            throw new IllegalArgumentException(key + " must hold 6 time ids (SDXL base) or 5 (the refiner), got "
                    + Arrays.toString(t.shape()));
        }
        for (int i = 0; i < (v.length == 5 ? 4 : 6); i++) {
            if (v[i] != Math.rint(v[i]) || v[i] < 0) {
                throw new IllegalArgumentException(key + " " + Arrays.toString(v) + " are not whole sizes and crops");
            }
        }
        return v;
    }

    /** (h, w) at {@code v[i]}, {@code v[i + 1]}: a {@link SdxlOptions.Size} (width first). */
    private static SdxlOptions.Size size(float[] v, int i) {
        return new SdxlOptions.Size((int) v[i + 1], (int) v[i]);
    }

    /**
     * The time-id rows the loop's UNet read, as diffusers' {@code __call__} lays them out: guided,
     * {@code cat([negative_add_time_ids (else add_time_ids), add_time_ids]).repeat(B, 1)}; else B rows of
     * {@code add_time_ids}. [(2)B, 6]
     */
    private static Tensor timeIdRows(Map<String, Tensor> f, boolean guided, int batch) {
        Tensor pos = f.get("add_time_ids").to(DType.F32).contiguous();  // [1, 6]
        if (!guided) return Latents.repeatRows(pos, null, batch);
        Tensor neg = f.getOrDefault("negative_add_time_ids", pos).to(DType.F32).contiguous();
        List<Tensor> rows = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            rows.add(neg);
            rows.add(pos);
        }
        return Latents.concatRows(rows);
    }

    /**
     * Whether the run drew image i from its own generator seeded {@code noise_seed + i} ({@code noise_seed_per_image}
     * nonzero: diffusers' list of generators, A1111's batch seeds).
     */
    static boolean perImage(Map<String, Tensor> f) {
        return f.containsKey("noise_seed_per_image") && f.get("noise_seed_per_image").getLong(0) != 0;
    }

    /**
     * {@code noise} equals {@code TorchCpuGenerator(noise_seed).randn(noise.shape)} (with {@code perImage}, image i's
     * rows those of a generator seeded {@code noise_seed + i}); without a separate {@code generator_seed}, the same
     * generator(s) then draw each recorded {@code step<i>_ancestral_noise} in order.
     */
    private static void noiseFromSeed(String name, Map<String, Tensor> f, long seed, boolean perImage, boolean sameGenerator,
                                      int steps, Context ctx) {
        Tensor noise = f.get("noise");                                                         // [B, 4, h, w]
        NoiseGenerator g = new GenerationRequest("", "", 1, 1, null, seed, 0, 0, Math.toIntExact(noise.dim(0)), 0,
                RngKind.TORCH, null, perImage).noise(seed);                                     // the pipeline's
        List<CheckResult> parts = new ArrayList<>();
        parts.add(Compare.tensors("noise", g.randn(noise.shape()), noise, ctx.tolerances().rng()));
        for (int i = 0; sameGenerator && i < steps && f.containsKey("step" + i + "_ancestral_noise"); i++) {
            Tensor ref = f.get("step" + i + "_ancestral_noise");
            parts.add(Compare.tensors("step" + i, g.randn(ref.shape()), ref, ctx.tolerances().rng()));
        }
        ctx.report(Compare.worst(name + " noise = TorchCpuGenerator(" + seed + (perImage ? " + i) per image i" : ")"),
                parts.toArray(CheckResult[]::new)));
    }

    /** Per-step outputs a loop file may record; whatever step 0 records, every step must. */
    private static final List<String> STEP_OUTPUTS = List.of("model_input", "noise_uncond", "noise_text", "guided", "latents_out");

    /**
     * Why the loop file cannot be checked as a whole (null when it can): it records nothing to compare, one half of
     * the UNet output without the other, a step output in some steps but not in others, or images without a
     * {@code vae/} folder to decode them. Such a file is a FAIL, not a silently smaller check.
     */
    static String missingKeys(Map<String, Tensor> f, int steps, boolean imagesWithoutVae) {
        if (imagesWithoutVae) return "records image_raw/image_01 but the reference set has no vae/ folder to decode them";
        List<String> recorded = STEP_OUTPUTS.stream().filter(k -> f.containsKey("step0_" + k)).toList();
        if (recorded.isEmpty() && !f.containsKey("final_latents") && !f.containsKey("image_raw") && !f.containsKey("image_01")) {
            return "records nothing to compare (expected step<i>_* intermediates, final_latents or image_raw/image_01)";
        }
        if (recorded.contains("noise_uncond") != recorded.contains("noise_text")) {
            return "records only one half of the UNet output (step<i>_noise_uncond and step<i>_noise_text go together)";
        }
        for (int i = 1; i < steps; i++) {
            for (String k : recorded) {
                if (!f.containsKey("step" + i + "_" + k)) return "records step0_" + k + " but no step" + i + "_" + k;
            }
        }
        for (String k : STEP_OUTPUTS) {
            if (!recorded.contains(k) && f.containsKey("step1_" + k)) return "records step1_" + k + " but no step0_" + k;
        }
        return null;
    }

    /** The recorded ancestral noise equals the draws of one {@link TorchCpuGenerator} seeded {@code generator_seed}. */
    private static void ancestralFromSeed(String name, Map<String, Tensor> f, int steps, Context ctx) {
        long seed = f.get("generator_seed").getLong(0);
        TorchCpuGenerator g = new TorchCpuGenerator(seed);
        List<CheckResult> parts = new ArrayList<>();
        for (int i = 0; i < steps; i++) {
            Tensor ref = f.get("step" + i + "_ancestral_noise");
            if (ref == null) break;
            parts.add(Compare.tensors("step" + i, g.randn(ref.shape()), ref, ctx.tolerances().rng()));
        }
        ctx.report(Compare.worst(name + " ancestral noise = TorchCpuGenerator(" + seed + ")", parts.toArray(CheckResult[]::new)));
    }

    static void compareIfPresent(List<CheckResult> parts, String what, Tensor actual, Map<String, Tensor> f,
                                         String key, Tolerances tol) {
        Tensor ref = f.get(key);
        if (ref != null) parts.add(Compare.tensors(what, actual.contiguous(), ref, tol.loop()));
    }

    /** Hands out {@code step<i>_ancestral_noise} in order; drawing when the file records none is an error. */
    private static final class RecordedNoise implements NoiseGenerator {
        private final Map<String, Tensor> file;
        private final int steps;
        private final String loop;
        private int next;

        RecordedNoise(Map<String, Tensor> file, int steps, String loop) {
            this.file = file;
            this.steps = steps;
            this.loop = loop;
        }

        @Override
        public Tensor randn(long... shape) {
            Tensor t = next < steps ? file.get("step" + next + "_ancestral_noise") : null;
            if (t == null) {
                throw new IllegalStateException(loop + ": the scheduler drew noise at draw " + next
                        + " but the file records no step" + next + "_ancestral_noise");
            }
            if (!Arrays.equals(t.shape(), shape)) {
                throw new IllegalStateException(loop + ": the scheduler drew noise of shape " + Arrays.toString(shape)
                        + " but step" + next + "_ancestral_noise is " + Arrays.toString(t.shape()));
            }
            next++;
            return t.to(DType.F32);
        }
    }
}
