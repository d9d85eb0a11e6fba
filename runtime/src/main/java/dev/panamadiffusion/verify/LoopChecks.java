package dev.panamadiffusion.verify;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.pipeline.Latents;
import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.rng.TorchCpuGenerator;
import dev.panamadiffusion.schedulers.Scheduler;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.schedulers.Schedulers;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Replays a recorded sampling loop ({@code loop_<scheduler>[_cfg<g>].safetensors}) the way the pipeline runs it, with
 * the scheduler built from {@code scheduler_<scheduler>/scheduler_config.json}, the set's UNet and VAE, and the loop's
 * own embeddings, initial noise and guidance scale; every recorded intermediate is compared on the way. The replay
 * runs free (each step starts from this runtime's previous result, not the reference's), so the per-step errors show
 * how far the whole pipeline drifts. Stochastic samplers draw the recorded {@code step<i>_ancestral_noise}.
 */
final class LoopChecks {
    private LoopChecks() {}

    static void run(ReferenceSet set, Path loopFile, Models models, Context ctx, Arena arena) {
        String file = loopFile.getFileName().toString();
        String name = set.label() + file.substring(0, file.length() - ".safetensors".length());
        String schedulerName = ReferenceSet.loopScheduler(loopFile);
        Path configFile = set.dir().resolve("scheduler_" + schedulerName).resolve("scheduler_config.json");
        if (!Files.isRegularFile(configFile)) {
            ctx.report(CheckResult.error(name, "no scheduler_" + schedulerName + "/scheduler_config.json beside it"));
            return;
        }
        Map<String, Tensor> f = SafeTensors.open(loopFile, arena).tensors();
        Tolerances tol = ctx.tolerances();
        Backend b = ctx.backend();

        // schedule
        Scheduler scheduler = Schedulers.fromConfig(SchedulerConfig.read(configFile));
        double[] refTimesteps = ComponentChecks.doubles(ComponentChecks.require(f, "timesteps", loopFile));
        int steps = f.containsKey("num_inference_steps") ? (int) f.get("num_inference_steps").getLong(0) : refTimesteps.length;
        scheduler.setTimesteps(steps);
        double[] timesteps = scheduler.timesteps();
        List<CheckResult> schedule = new ArrayList<>();
        schedule.add(Compare.arrays("timesteps", timesteps, refTimesteps, tol.schedule()));
        if (f.containsKey("init_noise_sigma")) {
            schedule.add(Compare.arrays("init_noise_sigma", new double[] {scheduler.initNoiseSigma()},
                    new double[] {f.get("init_noise_sigma").getDouble(0)}, tol.schedule()));
        }
        CheckResult scheduleResult = Compare.worst(name + " schedule", schedule.toArray(CheckResult[]::new));
        ctx.report(scheduleResult);
        if (timesteps.length != refTimesteps.length) return; // the per-step comparison would be meaningless

        // initial latents and conditioning
        Tensor noise = ComponentChecks.require(f, "noise", loopFile);                        // [B, 4, h, w]
        Tensor latents = Latents.scale(noise, (float) scheduler.initNoiseSigma());           // [B, 4, h, w]
        if (f.containsKey("init_latents")) {
            ctx.report(Compare.tensors(name + " init latents", latents, f.get("init_latents"), tol.loop()));
        }
        int batch = Math.toIntExact(noise.dim(0));
        Tensor uncond = ComponentChecks.require(f, "uncond_emb", loopFile);                  // [1, 77, D]
        Tensor cond = ComponentChecks.require(f, "cond_emb", loopFile);                      // [1, 77, D]
        Tensor context = b.upload(Latents.repeatRows(uncond, cond, batch));                   // [2B, 77, D]
        float g = f.containsKey("guidance_scale") ? f.get("guidance_scale").getFloat(0) : 7.5f;
        NoiseGenerator ancestral = new RecordedNoise(f, timesteps.length, name);

        for (int i = 0; i < timesteps.length; i++) {
            String p = "step" + i + "_";
            List<CheckResult> parts = new ArrayList<>();
            Tensor input = Latents.twice(scheduler.scaleModelInput(latents, i));             // [2B, 4, h, w]
            compareIfPresent(parts, "model_input", input, f, p + "model_input", tol);
            double[] t = new double[2 * batch];
            Arrays.fill(t, timesteps[i]);
            Tensor out = b.download(models.unet().forward(b.upload(input), t, context));     // [2B, 4, h, w]
            compareIfPresent(parts, "noise_uncond", out.slice(0, 0, batch), f, p + "noise_uncond", tol);
            compareIfPresent(parts, "noise_text", out.slice(0, batch, 2L * batch), f, p + "noise_text", tol);
            Tensor guided = Latents.guide(out, g);                                           // [B, 4, h, w]
            compareIfPresent(parts, "guided", guided, f, p + "guided", tol);
            latents = scheduler.step(guided, i, latents, ancestral);                         // [B, 4, h, w]
            compareIfPresent(parts, "latents_out", latents, f, p + "latents_out", tol);
            if (!parts.isEmpty()) {
                ctx.report(Compare.worst(name + " step " + i + " (t=" + ComponentChecks.list(new double[] {timesteps[i]})
                        .replaceAll("[\\[\\]]", "") + ")", parts.toArray(CheckResult[]::new)));
            }
        }
        if (f.containsKey("final_latents")) {
            ctx.report(Compare.tensors(name + " final latents", latents, f.get("final_latents"), tol.loop()));
        }
        if (models.has("vae") && (f.containsKey("image_raw") || f.containsKey("image_01"))) {
            Tensor z = Latents.divide(latents, models.vae().scalingFactor());                // [B, 4, h, w]
            Tensor raw = b.download(models.vae().decode(b.upload(z)));                       // [B, 3, H, W]
            if (f.containsKey("image_raw")) ctx.report(Compare.tensors(name + " image_raw", raw, f.get("image_raw"), tol.loop()));
            if (f.containsKey("image_01")) {
                ctx.report(Compare.tensors(name + " image_01", Latents.denormalize(raw), f.get("image_01"), tol.loop()));
            }
        }
        if (f.containsKey("generator_seed") && f.containsKey("step0_ancestral_noise")) {
            ancestralFromSeed(name, f, timesteps.length, ctx);
        }
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

    private static void compareIfPresent(List<CheckResult> parts, String what, Tensor actual, Map<String, Tensor> f,
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
            return t.to(dev.panamadiffusion.tensor.DType.F32);
        }
    }
}
