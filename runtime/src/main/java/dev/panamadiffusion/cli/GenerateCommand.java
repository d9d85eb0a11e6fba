package dev.panamadiffusion.cli;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.OutOfDeviceMemoryException;
import dev.panamadiffusion.backend.WeightPrecision;
import dev.panamadiffusion.image.ImageFiles;
import dev.panamadiffusion.image.PngWriter;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.io.PredictionType;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.lora.LoraSpec;
import dev.panamadiffusion.pipeline.BackendFactory;
import dev.panamadiffusion.pipeline.CancellationToken;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.pipeline.InitImage;
import dev.panamadiffusion.pipeline.InpaintFill;
import dev.panamadiffusion.pipeline.MaskOptions;
import dev.panamadiffusion.pipeline.InvalidRequestException;
import dev.panamadiffusion.pipeline.PipelineInputs;
import dev.panamadiffusion.pipeline.RequestLimits;
import dev.panamadiffusion.pipeline.RngKind;
import dev.panamadiffusion.pipeline.SdxlOptions;
import dev.panamadiffusion.pipeline.SizeRule;
import dev.panamadiffusion.pipeline.StableDiffusionPipeline;
import dev.panamadiffusion.pipeline.VaeTiling;
import dev.panamadiffusion.models.vae.VaeTiles;
import dev.panamadiffusion.schedulers.Schedulers;
import dev.panamadiffusion.tensor.Tensor;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code pdiff generate}: text to image, or image to image with {@code --init-image}/{@code --strength}, written as
 * PNG with the A1111 {@code parameters} text.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate images from a prompt with a Stable Diffusion 1.x/2.x or SDXL base model in diffusers layout,"
                + " or refine a picture with an SDXL refiner (--init-image).")
public final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR|FILE",
            description = "Diffusers model folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/),"
                    + " or a single-file .safetensors checkpoint of SD 1.x/2.x, SDXL base or the SDXL refiner in the original"
                    + " (LDM) layout."
                    + " Default: the project's demo model (models/pdiff-demo: coloured shapes, 64x64).")
    Path model;

    @Option(names = "--prediction-type", paramLabel = "epsilon|v_prediction",
            description = "For a single-file checkpoint: what its UNet predicts. Default: the LDM .yaml beside the file"
                    + " (parameterization), else epsilon for SD 1.x and v_prediction for SD 2.x (pass epsilon for SD 2.x base).")
    String predictionType;

    @Option(names = {"--prompt", "-p"}, required = true, paramLabel = "TEXT", description = "What to draw.")
    String prompt;

    @Option(names = {"--negative-prompt", "-n"}, defaultValue = "", paramLabel = "TEXT", description = "What to avoid.")
    String negativePrompt;

    @Option(names = "--prompt-2", paramLabel = "TEXT",
            description = "SDXL: the text for the second text encoder, which also gives the pooled embedding"
                    + " (diffusers' prompt_2). Default: --prompt.")
    String prompt2;

    @Option(names = "--negative-prompt-2", paramLabel = "TEXT",
            description = "SDXL: the negative text for the second text encoder (negative_prompt_2). Default:"
                    + " --negative-prompt; unused without --negative-prompt (the model then conditions on zeros).")
    String negativePrompt2;

    @Option(names = "--original-size", paramLabel = "WxH", converter = SizeConverter.class,
            description = "SDXL size conditioning: the size the picture should look as if it had before resizing"
                    + " (diffusers' original_size = (H, W)). Default: the output's size.")
    SdxlOptions.Size originalSize;

    @Option(names = "--crops-coords-top-left", paramLabel = "TOP,LEFT", converter = CropConverter.class,
            description = "SDXL: the top-left corner of the crop the picture should look cut from, in diffusers' order"
                    + " (crops_coords_top_left = (TOP, LEFT)): pixels down from the top edge, then in from the left edge."
                    + " Default: 0,0 (uncropped, centred).")
    SdxlOptions.Crop cropsCoordsTopLeft;

    @Option(names = "--target-size", paramLabel = "WxH", converter = SizeConverter.class,
            description = "SDXL: the size the picture should look made for (target_size = (H, W)). Default: the output's size.")
    SdxlOptions.Size targetSize;

    @Option(names = "--negative-original-size", paramLabel = "WxH", converter = SizeConverter.class,
            description = "SDXL: original size for the unconditional (negative) pass; with --negative-target-size only."
                    + " Default: the negative pass takes the three sizes above.")
    SdxlOptions.Size negativeOriginalSize;

    @Option(names = "--negative-crops-coords-top-left", paramLabel = "TOP,LEFT", converter = CropConverter.class,
            description = "SDXL: crop corner (TOP,LEFT) for the negative pass; with both negative sizes. Default: 0,0.")
    SdxlOptions.Crop negativeCropsCoordsTopLeft;

    @Option(names = "--negative-target-size", paramLabel = "WxH", converter = SizeConverter.class,
            description = "SDXL: target size for the negative pass; with --negative-original-size only.")
    SdxlOptions.Size negativeTargetSize;

    @Option(names = "--aesthetic-score", paramLabel = "SCORE",
            description = "SDXL refiner only: the aesthetic score its time ids condition on, in place of the target size"
                    + " (diffusers' aesthetic_score; LAION's aesthetic scores, about 1 to 10). Default: 6.")
    Double aestheticScore;

    @Option(names = "--negative-aesthetic-score", paramLabel = "SCORE",
            description = "SDXL refiner only: the aesthetic score of the unconditional (negative) pass"
                    + " (negative_aesthetic_score). Default: 2.5.")
    Double negativeAestheticScore;

    @Option(names = "--denoising-end", paramLabel = "F",
            description = "SDXL: stop the schedule after this share of it (diffusers' denoising_end, in (0, 1)), leaving"
                    + " the latents partly denoised for a refiner: write them with --latents-out.")
    Double denoisingEnd;

    @Option(names = "--denoising-start", paramLabel = "F",
            description = "SDXL image to image: start the schedule after this share of it (denoising_start, in (0, 1)),"
                    + " from --init-latents (or --init-image's latents) as they are, without noise; --strength is not read.")
    Double denoisingStart;

    @Option(names = "--init-latents", paramLabel = "FILE.safetensors",
            description = "With --denoising-start: start from these latents ('latents' [1 or B, 4, h, w], as --latents-out"
                    + " writes them) instead of an image; the output's size is theirs.")
    Path initLatents;

    @Option(names = "--latents-out", paramLabel = "FILE.safetensors",
            description = "Also write the final latents (before the VAE, diffusers' output_type=\"latent\") as 'latents'.")
    Path latentsOut;

    @Option(names = "--steps", defaultValue = "20", description = "Denoising steps, 1-1000. Default: ${DEFAULT-VALUE}.")
    int steps;

    @Option(names = {"--guidance", "--cfg-scale"}, paramLabel = "SCALE",
            description = "Classifier-free guidance scale; <= 1 turns guidance off. Default: the model's pipeline's"
                    + " (7.5; 5 for SDXL, as diffusers).")
    Double guidance;

    @Option(names = {"--scheduler", "--sampler"}, paramLabel = "NAME",
            description = "Sampler (A1111 names): DDIM, PNDM, Euler, \"Euler a\", \"DPM++ 2M\", \"DPM++ 2M Karras\", LMS,"
                    + " LCM (LCM models and LCM-LoRA: 2-8 steps, --guidance 1). Default: the model's own scheduler.")
    String scheduler;

    @Option(names = "--timestep-spacing", paramLabel = "leading|linspace|trailing",
            description = "Override the scheduler config's timestep_spacing; trailing starts few steps at t=999"
                    + " (SD-Turbo: --steps 1 --guidance 0). LCM ignores it. Default: the model's.")
    String timestepSpacing;

    @Option(names = "--seed", defaultValue = "-1", paramLabel = "N", converter = SeedConverter.class,
            description = "Noise seed, 0 to 18446744073709551614 (unsigned 64-bit); -1 picks one. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = {"--width", "-W"}, defaultValue = "0",
            description = "Width in pixels, a multiple of 64 for SD (0: the model's size, 512 for SD 1.5).")
    int width;

    @Option(names = {"--height", "-H"}, defaultValue = "0", description = "Height in pixels (0: the model's size).")
    int height;

    @Option(names = "--batch", defaultValue = "1", description = "Images from one noise draw, 1-16. Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--seed-per-image",
            description = "With --batch: image i from its own seed, seed + i (A1111's and stable-diffusion.cpp's numbering),"
                    + " so each is made again alone with --batch 1. Default: one draw for the batch, as diffusers.")
    boolean seedPerImage;

    @Option(names = "--clip-skip", defaultValue = "0",
            description = "Text encoder layers to skip at the end (diffusers clip_skip; A1111's Clip skip 2 is 1). Default: ${DEFAULT-VALUE}.")
    int clipSkip;

    @Option(names = "--rng", defaultValue = "torch", paramLabel = "torch|java",
            description = "Noise generator: torch (the same noise as diffusers on CPU) or java. Default: ${DEFAULT-VALUE}.")
    String rng;

    @Option(names = "--backend", defaultValue = "auto", paramLabel = "cpu|cuda|cuda-emu|auto",
            description = "Where to compute: cpu, cuda, cuda-emu (the CUDA path on the CPU-run CUDA emulator: slow, for checking) or auto. Default: ${DEFAULT-VALUE} (CUDA when a GPU is usable).")
    String backend;

    @Option(names = "--weights", paramLabel = "f32|bf16|int8",
            description = "How the CPU backend stores its linear and convolution weights: f32, bf16 (half the memory) or int8"
                    + " (about a quarter, one scale per 32 weights), widened back to f32 as the products read them; activations stay f32."
                    + " cpu backend only. Default: f32.")
    String weights;

    @Option(names = {"--out", "-o"}, required = true, paramLabel = "FILE.png",
            description = "Output PNG; with --batch N > 1, FILE-1.png … FILE-N.png.")
    Path out;

    @Option(names = "--init-image", paramLabel = "FILE.png",
            description = "Image to image: start from this picture (PNG, JPEG, BMP, GIF; alpha is dropped). Its size is"
                    + " the output's: give no --width/--height, or the same.")
    Path initImage;

    @Option(names = {"--strength", "--denoising-strength"}, paramLabel = "S",
            description = "With --init-image: how much of the schedule runs over it, in (0, 1] (int(steps x S) steps;"
                    + " 1 repaints from full noise). Default: 0.75; 0.3 on an SDXL refiner (StableDiffusionXLImg2ImgPipeline's).")
    Double strength;

    @Option(names = "--mask", paramLabel = "FILE.png",
            description = "With --init-image: inpaint, repainting only where the mask is white (grey >= 50%), the image's"
                    + " size. Default strength then: 1.0 (diffusers' inpainting default).")
    Path mask;

    @Option(names = "--mask-blur", paramLabel = "N",
            description = "With --mask: blur the mask first (PIL's Gaussian blur of standard deviation N pixels, diffusers'"
                    + " mask_processor.blur; A1111's mask_blur). The run repaints where the blurred mask is at least 50%;"
                    + " with --mask-crop-padding the blurred mask also blends the result into the picture. Default: 0.")
    Float maskBlur;

    @Option(names = "--mask-crop-padding", paramLabel = "N",
            description = "With --mask: inpaint only the box around the mask, grown by N pixels and to the output's aspect"
                    + " ratio, at the full output size, then paste it back blended with the mask (diffusers'"
                    + " padding_mask_crop; A1111's inpaint_full_res with inpaint_full_res_padding).")
    Integer maskCropPadding;

    @Option(names = "--masked-content", paramLabel = "MODE",
            description = "With --mask and a strength below 1: what the masked area starts from (A1111's \"masked content\","
                    + " inpainting_fill): original (the picture, as diffusers; default), fill (painted over with the colours"
                    + " around it first), latent-noise (its latents replaced by the run's noise), latent-nothing (by zeros).")
    String maskedContent;

    @Option(names = "--timings",
            description = "Print how long each phase took to standard error: load, begin (prompt encoding and starting"
                    + " latents), the first step, the later steps (mean, min, max), decode, PNG writing, total; seconds.")
    boolean timings;

    @Option(names = "--lora", paramLabel = "FILE[:SCALE]",
            description = "A LoRA (.safetensors, kohya/A1111 or diffusers/PEFT layout) merged in at SCALE (default 1);"
                    + " repeat for several.")
    List<String> loras = new java.util.ArrayList<>();

    @Option(names = "--vae-tiling", arity = "0..1", fallbackValue = "on", paramLabel = "auto|on|off",
            description = "Decode (and encode) the picture in overlapping tiles, as diffusers' enable_vae_tiling(): one"
                    + " tile's activations at a time, so big pictures need much less memory, but the picture differs from"
                    + " a whole decode (seams blended over a quarter of a tile). auto: pictures over 1024x1024 pixels;"
                    + " --vae-tiling alone: on. Default: auto.")
    String vaeTiling;

    @Option(names = "--vae-tile-size", paramLabel = "PIXELS",
            description = "Tile side for VAE tiling, a multiple of 4 x the VAE's scale (32 for SD). Default: the VAE's"
                    + " sample_size, as diffusers (512 for SD 1.5, 1024 for SDXL, 64 for the demo model).")
    Integer vaeTileSize;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Request field names → this command's options (for the one-line errors). */
    static final Map<String, String> OPTION_NAMES = optionNames();

    private static Map<String, String> optionNames() {
        Map<String, String> names = new java.util.HashMap<>(SdxlOptions.names(a -> "--" + a.replace('_', '-')));
        names.putAll(Map.ofEntries(Map.entry("prompt", "--prompt"), Map.entry("negativePrompt", "--negative-prompt"),
                Map.entry("steps", "--steps"), Map.entry("guidanceScale", "--guidance"), Map.entry("sampler", "--scheduler"),
                Map.entry("seed", "--seed"), Map.entry("width", "--width"), Map.entry("height", "--height"),
                Map.entry("size", "--width/--height"), Map.entry("batchSize", "--batch"), Map.entry("clipSkip", "--clip-skip"),
                Map.entry("rng", "--rng"), Map.entry("strength", "--strength"), Map.entry("initImage", "--init-image"),
                Map.entry("mask", "--mask")));
        return Map.copyOf(names);
    }

    /** {@code --weights}: null when not given (the backend's default), else f32, bf16 or int8; a usage error otherwise. */
    static WeightPrecision weightPrecision(String weights) {
        if (weights == null) return null;
        try {
            return WeightPrecision.parse(weights);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException("--weights: " + e.getMessage());
        }
    }

    /** diffusers' (and A1111's) default strength. */
    static final double DEFAULT_STRENGTH = 0.75;
    /** {@code StableDiffusionXLImg2ImgPipeline}'s default strength, an SDXL refiner's without {@code --strength}. */
    static final double REFINER_STRENGTH = 0.3;

    /**
     * Everything the user can get wrong is checked before any work, in this order, each an exit code 2: the request's
     * own fields and the output path, then the model folder's configs and the request against them, then loading the
     * weights and the backend. What fails after that (while sampling or writing) is exit code 1.
     */
    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter stdout = spec.commandLine().getOut();
        InitImage init = initImage();
        Tensor latentsIn = initLatents();
        GenerationRequest request = request();
        Map<String, String> names = OPTION_NAMES;
        if (init != null) {
            // a side not given is the image's; the size rule then judges the image's own size
            boolean fromImage = width == 0 || height == 0;
            request = request.withSize(width == 0 ? init.image().width() : width, height == 0 ? init.image().height() : height);
            if (fromImage) names = imageSizeNames();
            checkInitImage(init, request);
        }
        if (request.sampler() != null) checkSampler(request.sampler());
        OutputPaths.requirePng(out);
        List<LoraSpec> loraSpecs = Main.loraSpecs(loras);
        if (timestepSpacing != null) checkTimestepSpacing(timestepSpacing);
        VaeTiling tiling = vaeTiling(vaeTiling, vaeTileSize);
        WeightPrecision precision = weightPrecision(weights);
        PredictionType prediction = predictionType == null ? null : Main.usage(() -> PredictionType.parse(predictionType));
        List<Path> files = outputFiles(out, Math.max(1, Math.min(request.batchSize(), RequestLimits.DEFAULT.maxBatch())));
        OutputPaths.checkWritable(out, files);
        Path model = Main.modelOrDemo(this.model);
        RequestLimits.Model facts = modelLimits(model, prediction, request, names);
        checkRequest(request, facts, names);
        if (denoisingStart != null && init == null && latentsIn == null) {
            throw new Main.UsageException("--denoising-start needs --init-latents or --init-image (it is image to image's:"
                    + " the refiner's half of an ensemble of expert denoisers)");
        }
        if ((denoisingStart != null || denoisingEnd != null) && mask != null) {
            throw new Main.UsageException((denoisingStart != null ? "--denoising-start" : "--denoising-end")
                    + " is not supported with --mask (inpainting) yet");
        }
        InvalidRequestException.Problem noImage = init == null && latentsIn == null
                ? StableDiffusionPipeline.textToImageProblem(facts.refiner()) : null;
        if (noImage != null) throw new Main.UsageException(new InvalidRequestException(List.of(noImage)).describe(names));
        if (init != null && facts.refiner() && strength == null && mask == null) {
            init = new InitImage(init.image(), REFINER_STRENGTH, null, init.maskOptions());
            checkInitImage(init, request);
        }
        checkVaeTileSize(tiling, facts.sizes().vaeScaleFactor());

        ProgressBar bar = new ProgressBar(err, "sampling");
        Timings clock = new Timings(bar);
        Backend b;
        try {
            b = BackendFactory.create(backend, precision, err::println);
        } catch (IllegalArgumentException | IllegalStateException | OutOfDeviceMemoryException e) {
            throw new Main.UsageException(e.getMessage()); // an unknown backend, CUDA unusable here, or too little device memory
        }
        StableDiffusionPipeline pipeline;
        try {
            pipeline = Main.usage(() -> StableDiffusionPipeline.load(ModelFolder.open(model, prediction), b));
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        if (guidance == null) request = request.withGuidanceScale(pipeline.defaultGuidance());
        try (b; pipeline) {
            if (!loraSpecs.isEmpty()) pipeline.setLoras(loraSpecs);
            if (timestepSpacing != null) pipeline.timestepSpacing(timestepSpacing);
            pipeline.releaseWeightsAfterUse(true); // one request per process: each model's packed weights go once it is done
            Main.usage(() -> {
                pipeline.vaeTiling(tiling); // a VAE whose own sample_size cannot tile: exit code 2
                return tiling;
            });
            clock.loaded();
            bar.begin();
            GenerationResult result;
            try {
                clock.generating();
                PipelineInputs inputs = init == null ? PipelineInputs.NONE : PipelineInputs.of(init);
                result = pipeline.generate(request, latentsIn == null ? inputs : inputs.withImageLatents(latentsIn), clock,
                        CancellationToken.none());
                clock.decoded();
            } catch (OutOfMemoryError e) {
                throw new IllegalStateException(Main.describe(e), e);
            } catch (OutOfDeviceMemoryException e) { // a failure while running (exit code 1), worded for the options
                throw new IllegalStateException(e.getMessage() + "; a smaller --width/--height or --batch needs less", e);
            }
            for (String w : result.warnings()) err.println("pdiff: warning: " + w);
            if (latentsOut != null) {
                SafeTensors.write(latentsOut, Map.of("latents", result.latents()), Map.of("format", "pt"));
                stdout.printf(Locale.ROOT, "wrote %s (latents %s)%n", latentsOut, java.util.Arrays.toString(result.latents().shape()));
            }
            for (int i = 0; i < result.size(); i++) {
                PngWriter.write(files.get(i), result.images().get(i), PngWriter.parameters(result.infotexts().get(i)));
                stdout.printf(Locale.ROOT, "wrote %s (%dx%d, seed %s)%n", files.get(i), result.images().get(i).width(),
                        result.images().get(i).height(), RequestLimits.seedText(result.seeds().get(i)));
            }
            clock.written();
            stdout.printf(Locale.ROOT, "%d image%s in %.1f s on %s%n", result.size(), result.size() == 1 ? "" : "s",
                    result.seconds(), b.name());
            if (timings) err.println(clock.line());
        }
        return 0;
    }

    /**
     * What the model folder's configs allow. A folder whose configs cannot be read is the user's next thing to fix, after
     * the request's own fields (judged against whatever of the model could be read).
     */
    private static RequestLimits.Model modelLimits(Path model, PredictionType prediction, GenerationRequest request,
                                                   Map<String, String> names) {
        try {
            return StableDiffusionPipeline.modelLimits(ModelFolder.open(model, prediction));
        } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
            SizeRule sizes = SizeRule.GENERIC;
            try {
                sizes = StableDiffusionPipeline.sizeRule(ModelFolder.open(model));
            } catch (IllegalArgumentException | java.io.UncheckedIOException ignored) {
                // judged by the generic rule
            }
            int side = RequestLimits.DEFAULT.maxSide();   // SDXL's options are judged once the model can be read
            // (the refiner's aesthetic scores too: whether the model is a refiner is not known yet)
            checkRequest(request.withSdxl(request.sdxl().withAestheticScores(null, null)),
                    new RequestLimits.Model(sizes, side, side, Integer.MAX_VALUE, true), names);
            throw new Main.UsageException(e.getMessage());
        }
    }

    private static void checkRequest(GenerationRequest request, RequestLimits.Model model, Map<String, String> names) {
        try {
            RequestLimits.DEFAULT.check(request, model);
        } catch (InvalidRequestException e) {
            throw new Main.UsageException(e.describe(names));
        }
    }

    /** The option names, with the size fields named after the init image (its size became the request's). */
    private Map<String, String> imageSizeNames() {
        Map<String, String> names = new java.util.HashMap<>(OPTION_NAMES);
        String image = "--init-image " + initImage;
        names.put("width", image + ": its width");
        names.put("height", image + ": its height");
        names.put("size", image + ": its size");
        return names;
    }

    /**
     * {@code --init-image} read and {@code --strength} checked, or null without an init image; an unreadable file or a
     * strength without an image is a usage error.
     */
    InitImage initImage() {
        if (initImage == null) {
            if (strength != null) throw new Main.UsageException("--strength needs --init-image (it is image to image's)");
            if (mask != null) throw new Main.UsageException("--mask needs --init-image (the picture to inpaint)");
        }
        MaskOptions options = maskOptions();
        if (initImage == null) return null;
        Rgb8Image image = read(initImage, "--init-image");
        Rgb8Image maskImage = mask == null ? null : read(mask, "--mask");
        double s = strength != null ? strength : mask != null ? 1.0 : DEFAULT_STRENGTH;
        return new InitImage(image, s, maskImage, options);
    }

    /**
     * {@code --init-latents} read (its {@code latents} tensor), or null; it needs {@code --denoising-start} and excludes
     * {@code --init-image}; {@code --latents-out} must be a {@code .safetensors} name. Problems are usage errors.
     */
    Tensor initLatents() {
        if (latentsOut != null && !latentsOut.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")) {
            throw new Main.UsageException("--latents-out must name a .safetensors file, got " + latentsOut);
        }
        if (initLatents == null) return null;
        if (initImage != null) throw new Main.UsageException("--init-latents and --init-image exclude each other");
        if (denoisingStart == null) {
            throw new Main.UsageException("--init-latents needs --denoising-start (the share of the schedule they have been"
                    + " through)");
        }
        try {
            Tensor t = SafeTensors.readAll(initLatents).get("latents");
            if (t == null || t.rank() != 4) {
                throw new Main.UsageException("--init-latents " + initLatents + ": no 'latents' tensor [B, C, h, w] in it");
            }
            return t;
        } catch (RuntimeException e) {
            if (e instanceof Main.UsageException) throw e;
            throw new Main.UsageException("--init-latents " + initLatents + ": " + e.getMessage());
        }
    }

    /** {@code --mask-blur}, {@code --mask-crop-padding} and {@code --masked-content} checked (all need {@code --mask}). */
    private MaskOptions maskOptions() {
        if (maskBlur == null && maskCropPadding == null && maskedContent == null) return MaskOptions.NONE;
        if (mask == null) {
            String option = maskBlur != null ? "--mask-blur" : maskCropPadding != null ? "--mask-crop-padding" : "--masked-content";
            throw new Main.UsageException(option + " needs --mask (it prepares the mask)");
        }
        InpaintFill fill;
        try {
            fill = maskedContent == null ? InpaintFill.ORIGINAL : InpaintFill.parse(maskedContent);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException("--masked-content: " + e.getMessage());
        }
        if (maskBlur != null && !(maskBlur >= 0 && maskBlur <= MaskOptions.MAX_BLUR)) {
            throw new Main.UsageException("--mask-blur must be in [0, " + MaskOptions.MAX_BLUR + "], got " + maskBlur);
        }
        if (maskCropPadding != null && (maskCropPadding < 0 || maskCropPadding > MaskOptions.MAX_PADDING)) {
            throw new Main.UsageException("--mask-crop-padding must be in [0, " + MaskOptions.MAX_PADDING + "], got " + maskCropPadding);
        }
        return new MaskOptions(maskBlur == null ? 0 : maskBlur, maskCropPadding == null ? -1 : maskCropPadding, fill);
    }

    private static Rgb8Image read(Path file, String option) {
        try {
            return ImageFiles.readRgb(file);
        } catch (IOException e) {
            throw new Main.UsageException(option + ": " + e.getMessage());
        }
    }

    private static void checkInitImage(InitImage init, GenerationRequest request) {
        List<InvalidRequestException.Problem> problems = init.problems(request.steps(), request.width(), request.height());
        if (!problems.isEmpty()) throw new Main.UsageException(new InvalidRequestException(problems).describe(OPTION_NAMES));
    }

    GenerationRequest request() {
        RngKind kind;
        try {
            kind = RngKind.parse(rng);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
        // without --guidance the model's default replaces 7.5 once the model is loaded (StableDiffusionPipeline.defaultGuidance)
        SdxlOptions sdxl = new SdxlOptions(prompt2, negativePrompt2, originalSize, cropsCoordsTopLeft, targetSize,
                negativeOriginalSize, negativeCropsCoordsTopLeft, negativeTargetSize, aestheticScore, negativeAestheticScore,
                denoisingStart, denoisingEnd);
        return new GenerationRequest(prompt, negativePrompt, steps, guidance == null ? 7.5 : guidance, scheduler, seed, width, height, batch,
                clipSkip, kind, sdxl, seedPerImage);
    }

    /** {@code WxH} (width, then height, as {@code --width}/{@code --height}): an {@link SdxlOptions.Size}. */
    static final class SizeConverter implements CommandLine.ITypeConverter<SdxlOptions.Size> {
        @Override
        public SdxlOptions.Size convert(String value) {
            String[] p = value.strip().split("[xX]", -1);
            int[] v = ints(p, value, "WxH, e.g. 1024x768");
            return new SdxlOptions.Size(v[0], v[1]);
        }
    }

    /** {@code TOP,LEFT} (diffusers' order): an {@link SdxlOptions.Crop}. */
    static final class CropConverter implements CommandLine.ITypeConverter<SdxlOptions.Crop> {
        @Override
        public SdxlOptions.Crop convert(String value) {
            int[] v = ints(value.strip().split(",", -1), value, "TOP,LEFT, e.g. 0,0");
            return new SdxlOptions.Crop(v[0], v[1]);
        }
    }

    private static int[] ints(String[] parts, String value, String expected) {
        try {
            if (parts.length == 2) return new int[] {Integer.parseInt(parts[0].strip()), Integer.parseInt(parts[1].strip())};
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new CommandLine.TypeConversionException("expected " + expected + ", got '" + value + "'");
    }

    /** {@code --seed}: -1 or an unsigned 64-bit number ({@link RequestLimits#parseSeed}). */
    static final class SeedConverter implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            try {
                return RequestLimits.parseSeed(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    private static void checkSampler(String name) {
        for (String n : Schedulers.names()) if (n.equalsIgnoreCase(name.strip())) return;
        throw new Main.UsageException("unknown scheduler '" + name + "' (use one of: " + String.join(", ", Schedulers.names()) + ")");
    }

    /**
     * {@code --vae-tiling} and {@code --vae-tile-size} as a policy: a mode other than auto/on/off, a tile size that is
     * not positive, or a tile size with tiling off is a usage error (exit code 2).
     */
    static VaeTiling vaeTiling(String mode, Integer tileSize) {
        VaeTiling.Mode m;
        try {
            m = mode == null ? VaeTiling.Mode.AUTO : VaeTiling.parseMode(mode);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException("--vae-tiling: " + e.getMessage());
        }
        if (tileSize == null) return new VaeTiling(m, 0, VaeTiling.AUTO_PIXELS);
        if (m == VaeTiling.Mode.OFF) {
            throw new Main.UsageException("--vae-tile-size " + tileSize + " needs VAE tiling, but --vae-tiling is off");
        }
        if (tileSize < 1 || tileSize > VaeTiles.MAX_TILE) {
            throw new Main.UsageException("--vae-tile-size must be between 1 and " + VaeTiles.MAX_TILE + " pixels, got " + tileSize);
        }
        return new VaeTiling(m, tileSize, VaeTiling.AUTO_PIXELS);
    }

    /** {@code --vae-tile-size} against the model's VAE scale (a multiple of 4 × scale): a usage error if it does not fit. */
    static void checkVaeTileSize(VaeTiling tiling, int vaeScale) {
        String problem = tiling.problem(vaeScale);
        if (problem != null) throw new Main.UsageException("--vae-tile-size: " + problem);
    }

    private static void checkTimestepSpacing(String spacing) {
        try {
            Schedulers.requireTimestepSpacing(spacing);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException("--timestep-spacing: " + e.getMessage());
        }
    }

    /** {@code out} itself for one image; {@code name-1.png} … {@code name-N.png} beside it for a batch. */
    static List<Path> outputFiles(Path out, int count) {
        if (count == 1) return List.of(out);
        String name = out.getFileName().toString();
        String stem = name.substring(0, name.length() - ".png".length());
        List<Path> files = new ArrayList<>(count);
        for (int i = 1; i <= count; i++) files.add(out.resolveSibling(stem + "-" + i + ".png"));
        return files;
    }
}
