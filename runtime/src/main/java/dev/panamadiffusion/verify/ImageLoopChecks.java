package dev.panamadiffusion.verify;

import dev.panamadiffusion.image.ImageFiles;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.pipeline.Denoising;
import dev.panamadiffusion.pipeline.EagerUNet;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.InitImage;
import dev.panamadiffusion.pipeline.Latents;
import dev.panamadiffusion.pipeline.PipelineInputs;
import dev.panamadiffusion.pipeline.RngKind;
import dev.panamadiffusion.pipeline.StableDiffusionPipeline;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Replays a recorded image to image or inpainting run ({@code img2img_<scheduler>_s<strength>[_b<n>].safetensors},
 * {@code inpaint_…}: docs/VERIFY.md) through the production pipeline: the set's {@code init.png} (and {@code mask.png}
 * for inpainting) at the recorded strength, the recorded embeddings and guidance, the pipeline seeding itself from
 * {@code noise_seed}; either UNet kind (a 9-channel inpainting UNet is given the mask and masked-image latents). Every
 * recorded step output, the final latents and the image are compared.
 */
final class ImageLoopChecks {
    static final Pattern FILE = Pattern.compile("(img2img|inpaint)_(.+)_s([0-9.]+)(_b\\d+)?\\.safetensors");

    private ImageLoopChecks() {}

    static void run(ReferenceSet set, Path file, Models models, Context ctx, Arena arena) {
        String fileName = file.getFileName().toString();
        String name = set.label() + fileName.substring(0, fileName.length() - ".safetensors".length());
        Matcher m = FILE.matcher(fileName);
        if (!m.matches()) throw new IllegalArgumentException(fileName + " is not named (img2img|inpaint)_<scheduler>_s<strength>");
        boolean inpaint = m.group(1).equals("inpaint");
        Path configFile = set.dir().resolve("scheduler_" + m.group(2)).resolve("scheduler_config.json");
        if (!Files.isRegularFile(configFile)) {
            ctx.report(CheckResult.error(name, "no scheduler_" + m.group(2) + "/scheduler_config.json beside it"));
            return;
        }
        Map<String, Tensor> f = SafeTensors.open(file, arena).tensors();
        Tolerances tol = ctx.tolerances();
        Tensor finalLatents = ComponentChecks.require(f, "final_latents", file);                 // [B, 4, h, w]
        Tensor cond = ComponentChecks.require(f, "cond_emb", file);
        double strength = Double.parseDouble(Float.toString(ComponentChecks.require(f, "strength", file).getFloat(0)));
        int steps = (int) ComponentChecks.require(f, "num_inference_steps", file).getLong(0);
        long seed = ComponentChecks.require(f, "noise_seed", file).getLong(0);
        float g = f.containsKey("guidance_scale") ? f.get("guidance_scale").getFloat(0) : 7.5f;
        InitImage init = new InitImage(image(set, "init.png"), strength, inpaint ? image(set, "mask.png") : null);
        if (f.containsKey("init_image")) ctx.report(Compare.tensors(name + " init_image", init.pixels(), f.get("init_image"), tol.loop()));
        if (inpaint && f.containsKey("mask")) ctx.report(Compare.tensors(name + " mask", init.maskPixels(), f.get("mask"), tol.loop()));
        int batch = Math.toIntExact(finalLatents.dim(0));
        try (StableDiffusionPipeline pipeline = StableDiffusionPipeline.fromComponents(ctx.backend(), models.unet(),
                new EagerUNet(models.unet(), ctx.backend()), models.vae(), SchedulerConfig.read(configFile), m.group(2))) {
            GenerationRequest request = new GenerationRequest("", "", steps, g, null, seed, 0, 0, batch, 0, RngKind.TORCH);
            Denoising d = pipeline.begin(request, new PipelineInputs(cond, f.get("uncond_emb"), null, null, init));
            if (f.containsKey("timesteps")) {
                double[] ref = ComponentChecks.doubles(f.get("timesteps"));
                double[] ran = java.util.Arrays.copyOfRange(d.scheduler().timesteps(), d.beginIndex(), d.scheduler().timesteps().length);
                ctx.report(Compare.arrays(name + " timesteps", ran, ref, tol.schedule()));
                if (ran.length != ref.length) return;
            }
            d.observe(step -> {
                String p = "step" + step.index() + "_";
                List<CheckResult> parts = new ArrayList<>();
                LoopChecks.compareIfPresent(parts, "model_input", step.modelInput(), f, p + "model_input", tol);
                if (d.guided()) {
                    LoopChecks.compareIfPresent(parts, "noise_uncond", step.noisePred().slice(0, 0, batch), f, p + "noise_uncond", tol);
                    LoopChecks.compareIfPresent(parts, "noise_text", step.noisePred().slice(0, batch, 2L * batch), f, p + "noise_text", tol);
                }
                LoopChecks.compareIfPresent(parts, "guided", step.guided(), f, p + "guided", tol);
                LoopChecks.compareIfPresent(parts, "latents_out", step.latents(), f, p + "latents_out", tol);
                if (!parts.isEmpty()) ctx.report(Compare.worst(name + " step " + step.index(), parts.toArray(CheckResult[]::new)));
            });
            while (!d.finished()) pipeline.step(List.of(d));
            ctx.report(Compare.tensors(name + " final latents", d.latents(), finalLatents, tol.loop()));
            if (f.containsKey("image_raw") || f.containsKey("image_01")) {
                Tensor raw = pipeline.decode(d.latents());                                           // [B, 3, H, W]
                if (f.containsKey("image_raw")) ctx.report(Compare.tensors(name + " image_raw", raw, f.get("image_raw"), tol.loop()));
                if (f.containsKey("image_01")) {
                    ctx.report(Compare.tensors(name + " image_01", Latents.denormalize(raw), f.get("image_01"), tol.loop()));
                }
            }
        }
    }

    private static Rgb8Image image(ReferenceSet set, String file) {
        try {
            return ImageFiles.readRgb(set.dir().resolve(file));
        } catch (IOException e) {
            throw new UncheckedIOException("the set needs " + file + ": " + e.getMessage(), e);
        }
    }
}
