package dev.panamadiffusion.verify;

import dev.panamadiffusion.image.ImageFiles;
import dev.panamadiffusion.image.Images;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.pipeline.Denoising;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.InitImage;
import dev.panamadiffusion.pipeline.Latents;
import dev.panamadiffusion.pipeline.MaskOptions;
import dev.panamadiffusion.pipeline.PipelineInputs;
import dev.panamadiffusion.pipeline.RngKind;
import dev.panamadiffusion.pipeline.SdxlOptions;
import dev.panamadiffusion.pipeline.StableDiffusionPipeline;
import dev.panamadiffusion.pipeline.UNetRunner;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.tensor.DType;
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
 * recorded step output, the final latents and the image are compared. A run with {@code mask_blur} and/or
 * {@code mask_crop_padding} (…{@code _blur<n>_crop<p>}) is given those ({@link MaskOptions}): the cropped picture and
 * mask the run saw, the crop box, and the final picture after diffusers' {@code apply_overlay} ({@code image_overlay},
 * 8-bit: the overlay of the recorded {@code image_01} exactly, the production picture within two levels plus the
 * loop tolerance) are compared too. An SDXL run (diffusers' {@code StableDiffusionXLImg2ImgPipeline}) also records
 * the pooled embeddings ({@code cond_pooled}, {@code uncond_pooled}) and its time ids ({@code add_time_ids},
 * {@code negative_add_time_ids}), which become the request's size conditioning as in loops; 5 time ids are an SDXL
 * refiner's (original size, crop, aesthetic score: {@code requires_aesthetics_score}), whose rows the pipeline makes
 * itself and which are compared ({@code add_embeds}). With {@code denoising_start} (…{@code _start<f>}) the run began
 * at that share of the schedule without noise, from {@code given_image_latents} when recorded (an SDXL base's
 * {@code denoising_end} latents: diffusers' {@code image} as a 4-channel tensor) or else from the image's latents;
 * with {@code denoising_end} (…{@code _end<f>}) it stopped early. A run made with a generator per image
 * (…{@code _per_image}, {@code noise_seed_per_image}) is replayed with per-image seeds.
 */
final class ImageLoopChecks {
    static final Pattern FILE = Pattern.compile(
            "(img2img|inpaint)_(.+?)_s([0-9.]+)(_b\\d+)?(_blur[0-9.]+)?(_crop\\d+)?(_start[0-9.]+)?(_end[0-9.]+)?(_per_image)?\\.safetensors");

    private ImageLoopChecks() {}

    /**
     * Replays {@code file} with {@code unet} running the UNet (eager, or recorded CUDA graphs), its results named with
     * {@code suffix} after the run's name.
     */
    static void run(ReferenceSet set, Path file, Models models, UNetRunner unet, String suffix, Context ctx, Arena arena) {
        String fileName = file.getFileName().toString();
        String name = set.label() + fileName.substring(0, fileName.length() - ".safetensors".length()) + suffix;
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
        MaskOptions options = inpaint ? maskOptions(f) : MaskOptions.NONE;
        InitImage given = new InitImage(image(set, "init.png"), strength, inpaint ? image(set, "mask.png") : null, options);
        MaskOptions.Prepared prepared = given.prepare(given.image().width(), given.image().height());
        InitImage init = prepared.init();                                       // what the run sees (cropped, blurred)
        Tensor givenLatents = f.get("given_image_latents");                                 // [1 or B, 4, h, w] or null
        if (f.containsKey("init_image") && givenLatents == null) {
            ctx.report(Compare.tensors(name + " init_image", init.pixels(), f.get("init_image"), tol.loop()));
        }
        if (inpaint && f.containsKey("mask")) ctx.report(Compare.tensors(name + " mask", init.maskPixels(), f.get("mask"), tol.loop()));
        if (f.containsKey("crop_box")) {
            long[] box = prepared.overlay() == null ? new long[4] : prepared.overlay().crop().toArray();
            ctx.report(Compare.arrays(name + " crop_box", java.util.Arrays.stream(box).asDoubleStream().toArray(),
                    ComponentChecks.doubles(f.get("crop_box")), Tolerance.EXACT));
        }
        int batch = Math.toIntExact(finalLatents.dim(0));
        boolean aesthetic = f.containsKey("add_time_ids") && f.get("add_time_ids").numel() == 5;   // the SDXL refiner's
        SdxlOptions sdxl;
        try {
            sdxl = LoopChecks.sdxlOptions(f);
        } catch (IllegalArgumentException e) {
            ctx.report(CheckResult.error(name, fileName + ": " + e.getMessage()));
            return;
        }
        try (StableDiffusionPipeline pipeline = StableDiffusionPipeline.fromComponents(ctx.backend(), models.unet(),
                unet, models.vae(), SchedulerConfig.read(configFile), m.group(2), aesthetic)) {
            GenerationRequest request = new GenerationRequest("", "", steps, g, null, seed, 0, 0, batch, 0, RngKind.TORCH, sdxl,
                    LoopChecks.perImage(f));                                    // image i from noise_seed + i, when so made
            Denoising d = pipeline.begin(request, new PipelineInputs(cond, f.get("uncond_emb"), null, null,
                    givenLatents == null ? given : null).withPooled(f.get("cond_pooled"), f.get("uncond_pooled")) // SDXL: [1 or B, P]
                    .withImageLatents(givenLatents));
            if (aesthetic && f.containsKey("cond_pooled")) {   // the pipeline's own rows: B negative, then B positive
                Tensor pos = f.get("add_time_ids").to(DType.F32).contiguous();                       // [1, 5]
                Tensor neg = f.getOrDefault("negative_add_time_ids", pos).to(DType.F32).contiguous();
                Tensor rows = d.guided() ? Latents.repeatRows(neg, pos, batch) : Latents.repeatRows(pos, null, batch);
                Tensor pooledRows = d.addEmbeds().slice(1, 0, f.get("cond_pooled").dim(1)).contiguous();
                ctx.report(Compare.tensors(name + " add_embeds (pooled, negative_add_time_ids, add_time_ids)", d.addEmbeds(),
                        models.unet().addEmbeds(pooledRows, rows), tol.loop()));
            }
            if (f.containsKey("timesteps")) {
                double[] ref = ComponentChecks.doubles(f.get("timesteps"));
                double[] ran = java.util.Arrays.copyOfRange(d.scheduler().timesteps(), d.beginIndex(), d.endIndex());
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
            if (f.containsKey("image_overlay") && prepared.overlay() != null) {
                checkOverlay(name, prepared.overlay(), pipeline.finish(d).images(), f, tol, ctx);
            }
        }
    }

    /** The blur and padding a mask run was recorded with ({@code mask_blur}, {@code mask_crop_padding}; none when absent). */
    static MaskOptions maskOptions(Map<String, Tensor> f) {
        float blur = f.containsKey("mask_blur") ? f.get("mask_blur").getFloat(0) : 0f;
        int pad = f.containsKey("mask_crop_padding") ? (int) f.get("mask_crop_padding").getLong(0) : -1;
        return new MaskOptions(blur, pad);
    }

    /**
     * {@code image_overlay} [B, H, W, 3] (0..255) against the overlay of the recorded {@code image_01} (exactly: the
     * same 8-bit inputs through PIL's and this runtime's arithmetic) and against the production pictures
     * {@code images} (within two levels plus the loop tolerance, in [0, 1] units).
     */
    private static void checkOverlay(String name, MaskOptions.Overlay overlay, List<Rgb8Image> images, Map<String, Tensor> f,
                                     Tolerances tol, Context ctx) {
        Tensor expected = f.get("image_overlay");                                               // [B, H, W, 3]
        float[] want = new float[Math.toIntExact(expected.numel())];
        for (int i = 0; i < want.length; i++) want[i] = expected.getLong(i) / 255f;
        Tensor want01 = Tensor.fromFloats(want, expected.shape());
        if (f.containsKey("image_01")) {
            List<Rgb8Image> replayed = new ArrayList<>();
            for (int b = 0; b < images.size(); b++) replayed.add(overlay.apply(Images.toRgb8(f.get("image_01"), b)));
            ctx.report(Compare.tensors(name + " apply_overlay(image_01)", pictures(replayed, expected.shape()), want01, Tolerance.EXACT));
        }
        Tolerance loop = tol.loop();
        ctx.report(Compare.tensors(name + " image_overlay", pictures(images, expected.shape()), want01,
                new Tolerance(2 / 255.0 + loop.atol(), loop.rtol())));
    }

    /** Pictures as one [B, H, W, 3] tensor of values / 255. */
    private static Tensor pictures(List<Rgb8Image> images, long[] shape) {
        int per = images.get(0).rgb().length;
        float[] v = new float[images.size() * per];
        for (int b = 0; b < images.size(); b++) {
            for (int i = 0; i < per; i++) v[b * per + i] = (images.get(b).rgb()[i] & 0xff) / 255f;
        }
        return Tensor.fromFloats(v, shape);
    }

    private static Rgb8Image image(ReferenceSet set, String file) {
        try {
            return ImageFiles.readRgb(set.dir().resolve(file));
        } catch (IOException e) {
            throw new UncheckedIOException("the set needs " + file + ": " + e.getMessage(), e);
        }
    }
}
