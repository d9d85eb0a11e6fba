package dev.panamadiffusion.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.backend.Abort;
import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.image.Images;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.lora.LoraPatcher;
import dev.panamadiffusion.lora.LoraSpec;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.models.vae.DiagonalGaussianDistribution;
import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.schedulers.Scheduler;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.schedulers.Schedulers;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * diffusers' {@code StableDiffusionPipeline} (text to image, SD 1.x and 2.x): tokenizer, CLIP text encoder, UNet,
 * scheduler and VAE decoder, loaded from a diffusers model folder onto one backend.
 *
 * <p>{@link #generate} follows diffusers 0.27 step by step: the prompt and negative prompt are encoded to
 * [1, 77, D] each and repeated per image; the initial latents are ONE {@code randn([batch, 4, h, w])} from a generator
 * seeded with the request's seed, times the scheduler's {@code init_noise_sigma}; each step runs the UNet on
 * {@code [latents; latents]} against {@code [negative × batch; prompt × batch]} and combines
 * {@code uncond + g · (text − uncond)} (guidance ≤ 1 runs the prompt alone; so does a UNet with
 * {@code time_cond_proj_dim}, LCM-distilled, which is given the embedding of w = g − 1 instead), and the scheduler
 * steps with the same generator (ancestral samplers draw from it); finally {@code vae.decode(latents / scaling_factor)}
 * is mapped from [-1, 1] to 8-bit RGB. Image to image ({@link InitImage}, diffusers' {@code StableDiffusionImg2ImgPipeline})
 * differs only in where the loop starts ({@link LatentSource}): the encoded image noised to iteration {@code t_start}.
 * Differences from diffusers: clip skip applies to the negative prompt too (as in AUTOMATIC1111;
 * diffusers 0.27 conditions the negative prompt on the last layer), and the VAE decodes one image at a time (as
 * diffusers' {@code enable_vae_slicing}), which gives the same pixels with less memory.
 *
 * <p>One generation at a time per pipeline (the backend is not assumed to be thread-safe). The pipeline maps the weight
 * files into its own arena, released by {@link #close()}; the backend stays the caller's.
 */
public final class StableDiffusionPipeline implements AutoCloseable {
    private final ModelFolder folder;
    private final Backend backend;
    private final Arena arena;
    private final PromptConditioning conditioning; // null: every request brings its embeddings
    private final UNet2DConditionModel unet;
    private final UNetRunner unetRunner;  // eager, or CUDA-graph replays on a GraphBackend
    private final AutoencoderKL vae;
    private volatile SchedulerConfig schedulerConfig;  // the model's; timestep_spacing may be overridden (timestepSpacing)
    private final String defaultSampler;
    private final SizeRule sizeRule;
    private final LoraPatcher loras;
    private final RequestLimits limits;
    private final RequestLimits.Model modelLimits;
    private final boolean refiner;  // requires_aesthetics_score: the SDXL refiner's 5 time ids, image to image only
    private volatile VaeTiling vaeTiling = VaeTiling.AUTO;
    private volatile boolean offload;  // releaseWeightsAfterUse

    StableDiffusionPipeline(ModelFolder folder, Backend backend, Arena arena, PromptConditioning conditioning,
                                    UNet2DConditionModel unet, UNetRunner unetRunner,
                                    AutoencoderKL vae, SchedulerConfig schedulerConfig, String defaultSampler,
                                    SizeRule sizeRule, RequestLimits limits, boolean refiner) {
        this.folder = folder;
        this.backend = backend;
        this.arena = arena;
        this.conditioning = conditioning;
        this.unet = unet;
        this.unetRunner = unetRunner;
        this.vae = vae;
        this.schedulerConfig = schedulerConfig;
        this.defaultSampler = defaultSampler;
        this.sizeRule = sizeRule;
        this.loras = unet.config().hasTextTime() // SDXL: two text encoders (null ones not loaded here: embeddings given)
                ? LoraPatcher.ofSdxl(backend, unet, conditioning == null ? null : conditioning.loraTextEncoder(),
                        conditioning == null ? null : conditioning.loraTextEncoder2())
                : LoraPatcher.of(backend, unet, conditioning == null ? null : conditioning.loraTextEncoder());
        this.limits = limits;
        this.refiner = refiner;
        int side = unet.config().sampleSize() * sizeRule.vaeScaleFactor();
        int layers = conditioning == null ? Integer.MAX_VALUE : conditioning.maxClipSkip();
        this.modelLimits = new RequestLimits.Model(sizeRule, side, side, layers, unet.config().hasTextTime(), refiner);
    }

    /**
     * A pipeline over models the caller loaded and keeps (they are not closed with it), without a tokenizer or text
     * encoder: every request must come with its embeddings ({@link PipelineInputs}). The pipeline closes
     * {@code unetRunner}. What {@code pdiff verify} replays recorded diffusers loops through.
     *
     * @param vae may be null when nothing is decoded
     */
    public static StableDiffusionPipeline fromComponents(Backend backend, UNet2DConditionModel unet, UNetRunner unetRunner,
                                                         AutoencoderKL vae, SchedulerConfig schedulerConfig,
                                                         String defaultSampler) {
        return fromComponents(backend, unet, unetRunner, vae, schedulerConfig, defaultSampler, false);
    }

    /**
     * {@link #fromComponents(Backend, UNet2DConditionModel, UNetRunner, AutoencoderKL, SchedulerConfig, String)} for an
     * SDXL refiner's UNet when {@code requiresAestheticsScore} (its 5 time ids: image to image only, with
     * {@link SdxlOptions#aestheticTimeIdRows}).
     */
    public static StableDiffusionPipeline fromComponents(Backend backend, UNet2DConditionModel unet, UNetRunner unetRunner,
                                                         AutoencoderKL vae, SchedulerConfig schedulerConfig,
                                                         String defaultSampler, boolean requiresAestheticsScore) {
        if (requiresAestheticsScore && !unet.config().hasTextTime()) {
            throw new IllegalArgumentException("requires_aesthetics_score needs a UNet with SDXL's text_time conditioning");
        }
        int vaeScale = vae == null ? 8 : 1 << (vae.config().blockOutChannels().length - 1);
        SizeRule sizes = new SizeRule(vaeScale, unet.config().blockOutChannels().length - 1);
        return new StableDiffusionPipeline(null, backend, null, null, unet, unetRunner, vae, schedulerConfig,
                defaultSampler, sizes, RequestLimits.DEFAULT, requiresAestheticsScore);
    }

    /**
     * Loads the diffusers model folder, or single-file checkpoint ({@link ModelFolder#open}), {@code modelDir} onto
     * {@code backend}, for requests within {@link RequestLimits#DEFAULT}.
     */
    public static StableDiffusionPipeline load(Path modelDir, Backend backend) {
        return load(ModelFolder.open(modelDir), backend, RequestLimits.DEFAULT);
    }

    /** {@link #load(Path, Backend)} for requests within {@code limits}. */
    public static StableDiffusionPipeline load(Path modelDir, Backend backend, RequestLimits limits) {
        return load(ModelFolder.open(modelDir), backend, limits);
    }

    /** Loads {@code folder} (a diffusers folder or a single-file checkpoint) onto {@code backend}. */
    public static StableDiffusionPipeline load(ModelFolder folder, Backend backend) {
        return load(folder, backend, RequestLimits.DEFAULT);
    }

    /**
     * Loads {@code folder} onto {@code backend}, for requests within {@code limits}. A folder that is not a usable model
     * (missing or refused files, weights that do not bind, a tokenizer whose ids the text encoder does not have) is an
     * {@link IllegalArgumentException} or one of its kind; weights the backend's device memory cannot hold an
     * {@link dev.panamadiffusion.backend.OutOfDeviceMemoryException}, after the memory they took is reclaimed.
     */
    public static StableDiffusionPipeline load(ModelFolder folder, Backend backend, RequestLimits limits) {
        return DeviceMemoryRecovery.run(backend, "loading the model " + folder.name() + " onto " + backend.name()
                + " (its weights do not fit; a smaller model, a GPU with more free memory, or --backend cpu)",
                () -> PipelineLoader.load(folder, backend, limits));
    }

    /**
     * The sizes the model in {@code folder} can generate, from its {@code unet/} and {@code vae/} configs alone (no
     * weights are read): {@link PipelineLoader#sizeRule}.
     */
    public static SizeRule sizeRule(ModelFolder folder) { return PipelineLoader.sizeRule(folder); }

    /** What the model in {@code folder} allows, from its configs alone: {@link PipelineLoader#modelLimits}. */
    public static RequestLimits.Model modelLimits(ModelFolder folder) { return PipelineLoader.modelLimits(folder); }

    public ModelFolder folder() { return folder; }

    public String modelName() { return folder == null ? "components" : folder.name(); }

    public Backend backend() { return backend; }

    public SizeRule sizeRule() { return sizeRule; }

    /** The limits this pipeline checks requests against. */
    public RequestLimits limits() { return limits; }

    /** What this model allows: its sizes, its own size, its text encoder's layers. */
    public RequestLimits.Model modelLimits() { return modelLimits; }

    /**
     * Whether this is an SDXL refiner ({@code requires_aesthetics_score}): image to image only, its time ids original
     * size, crop and aesthetic score ({@link SdxlOptions#aestheticTimeIdRows}).
     */
    public boolean refiner() { return refiner; }

    /**
     * Why a request without an init image cannot run on this model (field {@code initImage}): an SDXL refiner, for
     * which diffusers has no text-to-image pipeline; else null.
     */
    public static InvalidRequestException.Problem textToImageProblem(boolean refiner) {
        if (!refiner) return null;
        return new InvalidRequestException.Problem("initImage", "is required: this model is an SDXL refiner"
                + " (requires_aesthetics_score), which only refines a picture (diffusers' StableDiffusionXLImg2ImgPipeline;"
                + " it has no text-to-image pipeline); give it an image to refine, e.g. an SDXL base model's output");
    }

    /** The A1111 name of the model's own scheduler (what a request without a sampler runs). */
    public String defaultSampler() { return defaultSampler; }

    /**
     * Overrides the model scheduler config's {@code timestep_spacing} for every later request, whichever sampler it
     * picks ("leading", "linspace" or "trailing"; an unknown value is an {@link IllegalArgumentException}). "trailing"
     * makes a few steps start at the last training timestep (999), as SD-Turbo and SDXL-Turbo are sampled. LCM has its
     * own schedule and ignores the spacing, as in diffusers. A generation already begun keeps its scheduler.
     */
    public void timestepSpacing(String spacing) {
        Schedulers.requireTimestepSpacing(spacing);
        schedulerConfig = schedulerConfig.with("timestep_spacing", spacing);
    }

    /**
     * Makes the VAE decode and encode later requests' pictures in tiles as {@code tiling} says (diffusers'
     * {@code enable_vae_tiling()}; default {@link VaeTiling#AUTO}). A tile size that does not suit this model's VAE is an
     * {@link IllegalArgumentException} saying why, and the policy before stays.
     */
    public void vaeTiling(VaeTiling tiling) {
        if (vae != null) tiling.check(vae);
        vaeTiling = tiling;
    }

    /** When the VAE tiles ({@link #vaeTiling(VaeTiling)}). */
    public VaeTiling vaeTiling() { return vaeTiling; }

    /**
     * With {@code on}, each {@link #generate} hands a model's prepared weights back to the backend once that request
     * is done with the model: the text encoders' after the prompt is encoded, the UNet's after the last step
     * ({@link Backend#releaseWeights}; the CPU frees its packed panels). The next request prepares them again at
     * their first use. For one-shot runs on machines short of memory, as diffusers' {@code enable_model_cpu_offload}
     * moves each model off the GPU once used: the VAE decode then runs beside the VAE's weights alone instead of
     * every model's. Results do not change. A server keeps it off (the default): it would pack the UNet at every
     * request. The step-by-step API ({@link #begin}, {@link #step}, {@link #finish}) never releases.
     */
    public void releaseWeightsAfterUse(boolean on) { offload = on; }

    public boolean releaseWeightsAfterUse() { return offload; }

    /** The model's scheduler config as requests use it (with any {@link #timestepSpacing} override). */
    public SchedulerConfig schedulerConfig() { return schedulerConfig; }

    /**
     * The guidance scale a request that gives none should use: diffusers' default for the pipeline class, 5 for SDXL
     * ({@code StableDiffusionXLPipeline}), 7.5 otherwise.
     */
    public double defaultGuidance() { return unet.config().hasTextTime() ? 5.0 : 7.5; }

    /**
     * Whether the UNet is an inpainting UNet (9 input channels: latents, mask, masked-image latents), which every
     * request must give an init image with a mask ({@link #maskProblem}).
     */
    public boolean inpaintingUNet() {
        return InpaintConditioning.takenBy(unet.config().inChannels(), unet.config().outChannels());
    }

    /** Why {@code init} cannot run on this model (field {@code mask}): an inpainting UNet given no mask; else null. */
    public InvalidRequestException.Problem maskProblem(InitImage init) {
        if (!inpaintingUNet() || init != null && init.mask() != null) return null;
        return new InvalidRequestException.Problem("mask", "this model has an inpainting UNet (" + unet.config().inChannels()
                + " input channels: latents, mask, masked image); it needs an init image and a mask");
    }

    /** Width and height when a request gives 0: the UNet's sample size times the VAE scale (512 for SD 1.5, 1024 for SDXL). */
    public int defaultSize() { return unet.config().sampleSize() * sizeRule.vaeScaleFactor(); }

    /**
     * Makes {@code specs} the LoRAs this pipeline generates with, merged into copies of the weights they touch (an
     * empty list removes all; the base weights are never written, so removing restores them bit for bit). Every file
     * is checked first: a LoRA for another model is a {@link dev.panamadiffusion.lora.LoraException} naming it, and
     * the LoRAs applied before stay.
     */
    public synchronized void setLoras(List<LoraSpec> specs) {
        try {
            loras.set(specs);
        } finally {
            unetRunner.weightsChanged();
        }
    }

    /** Removes every LoRA ({@link #setLoras} with none). */
    public synchronized void clearLoras() { setLoras(List.of()); }

    /** The LoRAs applied now. */
    public synchronized List<LoraSpec> loras() { return loras.active(); }

    /**
     * Runs {@code request}. Invalid fields are an {@link InvalidRequestException}; a sampler name that does not exist
     * or a prompt with token ids outside the text encoder's vocabulary an {@link IllegalArgumentException}; a
     * cancelled {@code cancel} a {@link java.util.concurrent.CancellationException} (checked between steps).
     */
    public synchronized GenerationResult generate(GenerationRequest request, ProgressListener progress,
                                                  CancellationToken cancel) {
        return generate(request, PipelineInputs.NONE, progress, cancel);
    }

    /**
     * {@link #generate(GenerationRequest, ProgressListener, CancellationToken)} with {@code inputs} (e.g.
     * {@link PipelineInputs#of(InitImage)} for image to image).
     */
    public synchronized GenerationResult generate(GenerationRequest request, PipelineInputs inputs, ProgressListener progress,
                                                  CancellationToken cancel) {
        try {
            return generateOnce(request, inputs, progress, cancel);
        } catch (dev.panamadiffusion.backend.OutOfDeviceMemoryException e) {
            releaseDeviceMemory();
            throw new dev.panamadiffusion.backend.OutOfDeviceMemoryException("out of device memory generating "
                    + DeviceMemoryRecovery.images(request), e);
        }
    }

    /**
     * After an {@link dev.panamadiffusion.backend.OutOfDeviceMemoryException}: drops the UNet runner's recorded graphs
     * (each holds a forward pass's activations) and reclaims the device memory of unreachable tensors at once.
     */
    public synchronized void releaseDeviceMemory() {
        unetRunner.releaseRecordings();
        DeviceMemoryRecovery.reclaim(backend);
    }

    private GenerationResult generateOnce(GenerationRequest request, PipelineInputs inputs, ProgressListener progress,
                                          CancellationToken cancel) {
        ProgressListener listener = progress == null ? ProgressListener.NONE : progress;
        CancellationToken token = cancel == null ? CancellationToken.none() : cancel;
        Denoising d = begin(request, inputs);
        if (offload && conditioning != null) {
            release(conditioning.loraTextEncoder() == null ? null : conditioning.loraTextEncoder().params());
            release(conditioning.loraTextEncoder2() == null ? null : conditioning.loraTextEncoder2().params());
        }
        d.cancelWith(token);
        token.throwIfCancelled("after encoding the prompt");
        listener.onBegun(d.totalSteps());
        while (!d.finished()) {
            token.throwIfCancelled("before step " + (d.stepsDone() + 1) + " of " + d.totalSteps());
            step(List.of(d));
            listener.onStep(d.stepsDone(), d.totalSteps());
        }
        token.throwIfCancelled("before decoding");
        if (offload) release(unet.params());
        return finish(d);
    }

    /** {@link Backend#releaseWeights} of a model's linear and convolution weights (as LoRA has patched them). */
    private void release(java.util.Map<String, dev.panamadiffusion.weights.Param> params) {
        if (params != null) backend.releaseWeights(params.values().stream().map(dev.panamadiffusion.weights.Param::tensor).toList());
    }

    /**
     * {@code request} as it will run: checked against {@link #limits()} ({@link InvalidRequestException}), a width or height of 0 replaced by
     * the model's {@link #defaultSize()}, a seed of -1 by a random one. Needs no backend work.
     */
    public GenerationRequest resolve(GenerationRequest request) {
        limits.check(request, modelLimits);
        int width = request.width() == 0 ? defaultSize() : request.width();
        int height = request.height() == 0 ? defaultSize() : request.height();
        long seed = request.seed() == -1 ? ThreadLocalRandom.current().nextLong(1L << 32) : request.seed();
        return request.withSize(width, height).withSeed(seed);
    }

    /**
     * A new scheduler for {@code request} (its sampler, or the model's own), with the request's timesteps set. A sampler
     * this model's scheduler config cannot make, or a step count the sampler cannot take (PNDM with Runge-Kutta warm-up
     * steps needs at least 4), is an {@link IllegalArgumentException}; {@link InvalidRequestException} names the field.
     */
    public Scheduler scheduler(GenerationRequest request) {
        Scheduler scheduler;
        try {
            scheduler = request.sampler() == null ? Schedulers.fromConfig(schedulerConfig)
                    : Schedulers.create(request.sampler(), schedulerConfig);
        } catch (InvalidRequestException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw InvalidRequestException.of("sampler", e.getMessage());
        }
        try {
            scheduler.setTimesteps(request.steps());
        } catch (IllegalArgumentException e) {
            throw InvalidRequestException.of("steps", request.steps() + " do not suit the sampler "
                    + (request.sampler() == null ? defaultSampler : canonicalSampler(request.sampler())) + ": " + e.getMessage());
        }
        return scheduler;
    }

    /**
     * Validates {@code request}, resolves its seed and size ({@link #resolve}), encodes its prompts and draws its initial latents: one
     * {@code randn([batch, 4, h, w])} from a generator seeded with the seed, times {@code init_noise_sigma}, as
     * diffusers' {@code prepare_latents}.
     */
    public synchronized Denoising begin(GenerationRequest request) {
        return begin(request, PipelineInputs.NONE);
    }

    /**
     * {@link #begin(GenerationRequest)} with what {@code inputs} gives in place of encoding the prompts, drawing the
     * initial noise or seeding the generator (diffusers' {@code prompt_embeds}, {@code latents}, {@code generator}).
     * With an {@link InitImage} it begins image to image as diffusers' {@code StableDiffusionImg2ImgPipeline}: a
     * request without a size (0 × 0) takes the image's; the image is encoded by the VAE and the loop starts at
     * iteration {@code t_start} ({@link LatentSource.Image}). A strength outside (0, 1], one that leaves no step, or an
     * image of another size than the request's is an {@link InvalidRequestException}.
     */
    public synchronized Denoising begin(GenerationRequest request, PipelineInputs inputs) {
        long start = System.nanoTime();
        InitImage init = inputs.initImage();
        Tensor imageLatents = inputs.imageLatents();                                         // [1 or B, C, h, w]
        if (imageLatents != null && init != null) {
            throw new IllegalArgumentException("give an init image or its latents, not both");
        }
        if (init != null && request.width() == 0 && request.height() == 0) {
            request = request.withSize(init.image().width(), init.image().height());
        }
        if (imageLatents != null && request.width() == 0 && request.height() == 0 && imageLatents.rank() == 4) {
            int s = sizeRule.vaeScaleFactor();
            request = request.withSize(Math.toIntExact(imageLatents.dim(3)) * s, Math.toIntExact(imageLatents.dim(2)) * s);
        }
        GenerationRequest resolved = resolve(request);
        int width = resolved.width();
        int height = resolved.height();
        long seed = resolved.seed();
        InvalidRequestException.Problem noMask = maskProblem(init);
        if (noMask != null) throw new InvalidRequestException(List.of(noMask));
        InvalidRequestException.Problem noImage = init == null && imageLatents == null ? textToImageProblem(refiner) : null;
        if (noImage != null) throw new InvalidRequestException(List.of(noImage));
        DenoisingWindow.problems(resolved.sdxl(), init, imageLatents);
        if (init != null) {
            List<InvalidRequestException.Problem> problems = init.problems(request.steps(), width, height);
            if (!problems.isEmpty()) throw new InvalidRequestException(problems);
            if (vae == null) throw new IllegalStateException("this pipeline has no VAE to encode an init image");
        }
        MaskOptions.Prepared prepared = init == null ? null : init.prepare(width, height); // blur, padding_mask_crop
        if (prepared != null) init = prepared.init();
        // diffusers' do_classifier_free_guidance: guidance above 1, unless the UNet takes the guidance scale as an
        // embedding (time_cond_proj_dim, LCM-distilled models), which then conditions the prompt-only pass instead
        boolean guided = request.usesGuidance() && unet.config().timeCondProjDim() == null;

        Scheduler scheduler = scheduler(request);
        String samplerName = request.sampler() == null ? defaultSampler : canonicalSampler(request.sampler());

        List<String> warnings = new ArrayList<>();
        UNetConditioning cond;                                       // [(2)B, L, D] and SDXL's [(2)B, P] added embeds
        boolean fromImage = init != null || imageLatents != null;    // diffusers' image-to-image / inpainting pipelines
        if (inputs.promptEmbeds() != null) {
            cond = UNetConditioning.given(inputs, guided, resolved, unet, refiner, fromImage);
        } else if (conditioning == null) {
            throw new IllegalStateException("this pipeline has no text encoder: give prompt embeddings");
        } else {
            cond = conditioning.encode(resolved, guided, fromImage, warnings);
        }
        NoiseGenerator generator = inputs.generator() != null ? inputs.generator() : request.noise(seed);
        int scale = sizeRule.vaeScaleFactor();
        long[] shape = {request.batchSize(), unet.config().outChannels(), height / scale, width / scale};
        Tensor given = inputs.latents() != null ? PipelineInputs.checkedLatents(inputs.latents(), shape) : null;  // [B, 4, h, w]
        Double denoisingStart = resolved.sdxl().denoisingStart();
        LatentSource source = denoisingStart != null
                ? new LatentSource.Clean(imageLatents != null ? null : encode(init.pixels()), vae == null ? 1f : vae.scalingFactor(),
                        imageLatents == null ? null : DenoisingWindow.checkedImageLatents(imageLatents, shape),
                        DenoisingWindow.startIndex(scheduler, denoisingStart, trainTimesteps()))
                : LatentSource.of(init, this::encode, vae == null ? 1f : vae.scalingFactor(), shape, given,
                        InpaintConditioning.takenBy(unet.config().inChannels(), unet.config().outChannels()),
                        prepared == null ? InpaintFill.ORIGINAL : prepared.fill());
        LatentSource.Start first = source.start(scheduler, request.steps(), shape, generator);                    // [B, 4, h, w]
        int end = DenoisingWindow.endIndex(scheduler, first.beginIndex(), resolved.sdxl().denoisingEnd(), trainTimesteps());
        Tensor timestepCond = null;                                                                               // [B, dim]
        if (unet.config().timeCondProjDim() != null) {
            double[] w = new double[request.batchSize()];
            Arrays.fill(w, request.guidanceScale() - 1);  // diffusers: torch.tensor(guidance_scale - 1), float32
            timestepCond = unet.guidanceEmbedding(w);
        }
        return new Denoising(resolved, samplerName, scheduler, generator, cond.context(), backend.upload(cond.context()), cond.addEmbeds(),
                first.latents(), warnings, start, guided, timestepCond, first.beginIndex(), end,
                init == null || denoisingStart != null ? null : init.strength(),
                first.blend(), first.conditioning(), prepared == null ? null : prepared.overlay());
    }

    /** The scheduler config's {@code num_train_timesteps} (diffusers' default 1000). */
    private int trainTimesteps() {
        return schedulerConfig.numTrainTimesteps() == null ? 1000 : schedulerConfig.numTrainTimesteps();
    }

    /**
     * One denoising step for every state in {@code group} with ONE UNet call over all their rows (continuous batching
     * across requests): each state's scaled input (twice when guided) and its own timestep and text conditioning,
     * then its own guidance and scheduler step. All states must have the same latent shape and not be finished.
     */
    public synchronized void step(List<Denoising> group) {
        if (group.isEmpty()) return;
        Denoising first = group.get(0);
        int rows = 0;
        for (Denoising d : group) {
            if (d.finished()) throw new IllegalStateException("step on a finished generation");
            if (!d.sameLatentShape(first)) throw new IllegalArgumentException("latent shapes differ within one UNet batch");
            rows += d.rows();
        }
        List<Tensor> inputs = new ArrayList<>(group.size());
        double[] t = new double[rows];
        int r = 0;
        for (Denoising d : group) {
            Tensor input = d.scheduler.scaleModelInput(d.latents, d.step); // [B, 4, h, w]
            inputs.add(d.conditioning.extend(d.guided ? Latents.twice(input) : input)); // [(2)B, 4 (or 9), h, w]
            Arrays.fill(t, r, r + d.rows(), d.scheduler.timesteps()[d.step]);
            r += d.rows();
        }
        Tensor context = group.size() == 1 ? first.context
                : backend.upload(Latents.concatRows(group.stream().map(d -> d.hostContext).toList())); // [R, 77, D]
        Tensor sample = Latents.concatRows(inputs);                                                      // [R, 4, h, w]
        Tensor timestepCond = first.timestepCond == null ? null                                          // [R, dim]
                : Latents.concatRows(group.stream().map(d -> d.timestepCond).toList());
        Tensor addEmbeds = first.addEmbeds == null ? null                                                // [R, P]
                : Latents.concatRows(group.stream().map(d -> d.addEmbeds).toList());
        Tensor noisePred = Abort.when(() -> allCancelled(group),                                        // [R, 4, h, w]
                () -> unetRunner.predict(sample, t, timestepCond, addEmbeds, context, () -> abandonIfAllCancelled(group)));
        r = 0;
        for (int i = 0; i < group.size(); i++) {
            Denoising d = group.get(i);
            Tensor out = noisePred.slice(0, r, r + d.rows());                                            // [(2)B, 4, h, w]
            r += d.rows();
            Tensor eps = d.guided ? Latents.guide(out, (float) d.request.guidanceScale()) : out.contiguous();
            d.latents = d.blend.apply(d.scheduler.step(eps, d.step, d.latents, d.generator), d.scheduler, d.step); // [B, 4, h, w]
            if (d.observer != StepObserver.NONE) {
                d.observer.onStep(new StepObserver.Step(d.stepsDone(), d.scheduler.timesteps()[d.step], inputs.get(i),
                        out.contiguous(), eps, d.latents));
            }
            d.step++;
        }
    }

    /** Throws {@link java.util.concurrent.CancellationException} when every request of {@code group} is cancelled. */
    private static void abandonIfAllCancelled(List<Denoising> group) {
        if (allCancelled(group)) throw new java.util.concurrent.CancellationException("generation cancelled during a UNet step");
    }

    private static boolean allCancelled(List<Denoising> group) {
        for (Denoising d : group) if (!d.cancellation.isCancelled()) return false;
        return true;
    }

    /** Decodes a finished state's latents, one image at a time, into RGB images with their A1111 parameters. */
    public synchronized GenerationResult finish(Denoising d) {
        if (!d.finished()) throw new IllegalStateException("decode before the last step");
        GenerationRequest request = d.request;
        int batch = request.batchSize();
        List<Rgb8Image> images = new ArrayList<>(batch);
        List<Long> seeds = new ArrayList<>(batch);
        List<String> infotexts = new ArrayList<>(batch);
        Tensor decoded = Latents.denormalize(decode(d.latents));                   // [B, 3, H, W]
        for (int b = 0; b < batch; b++) {
            Rgb8Image image = Images.toRgb8(decoded, b);
            images.add(d.overlay == null ? image : d.overlay.apply(image)); // padding_mask_crop's apply_overlay
            long seed = request.imageSeed(request.seed(), b);
            seeds.add(seed);
            infotexts.add(Infotext.format(request, d.samplerName, seed, request.width(), request.height(), modelName(), b,
                    d.strength));
        }
        return new GenerationResult(images, seeds, infotexts, d.warnings, (System.nanoTime() - d.startNanos) / 1e9, d.latents);
    }

    /**
     * {@code vae.decode(latents / scaling_factor)} one image at a time (as diffusers' {@code enable_vae_slicing}), in
     * tiles where {@link #vaeTiling()} says: host [B, C, h, w] → host [B, 3, H, W] in about [-1, 1], before any clamping.
     */
    public synchronized Tensor decode(Tensor latents) {
        if (vae == null) throw new IllegalStateException("this pipeline has no VAE");
        int batch = Math.toIntExact(latents.dim(0));
        List<Tensor> images = new ArrayList<>(batch);
        for (int b = 0; b < batch; b++) {
            Tensor z = Latents.divide(latents.slice(0, b, b + 1), vae.scalingFactor()); // [1, 4, h, w]
            images.add(vaeTiling.decode(vae, z));                                    // [1, 3, H, W]
        }
        return Latents.concatRows(images);                                          // [B, 3, H, W]
    }

    /**
     * {@code vae.encode(pixels).latent_dist}: host [1, 3, H, W] in [-1, 1] → the posterior over [1, C, H/s, W/s] latents
     * (unscaled), as image to image's {@code prepare_latents} encodes its image; in tiles where {@link #vaeTiling()} says.
     */
    public synchronized DiagonalGaussianDistribution encode(Tensor pixels) {
        if (vae == null) throw new IllegalStateException("this pipeline has no VAE");
        return vaeTiling.encode(vae, pixels);
    }

    /** The A1111 spelling of a sampler name the user typed in any case. */
    private static String canonicalSampler(String name) {
        for (String n : Schedulers.names()) if (n.equalsIgnoreCase(name.strip())) return n;
        return name;
    }

    /** The A1111 name of a diffusers scheduler config ({@code _class_name}, Karras sigmas). */
    static String samplerName(JsonNode schedulerConfig) {
        JsonNode cls = schedulerConfig.get("_class_name");
        String name = cls == null ? "" : cls.asText();
        JsonNode karrasNode = schedulerConfig.get("use_karras_sigmas");
        boolean karras = karrasNode != null && karrasNode.asBoolean(false);
        return switch (name) {
            case "DDIMScheduler" -> "DDIM";
            case "PNDMScheduler" -> "PNDM";
            case "EulerDiscreteScheduler" -> karras ? "Euler Karras" : "Euler";
            case "EulerAncestralDiscreteScheduler" -> "Euler a";
            case "DPMSolverMultistepScheduler" -> karras ? "DPM++ 2M Karras" : "DPM++ 2M";
            case "LMSDiscreteScheduler" -> karras ? "LMS Karras" : "LMS";
            case "LCMScheduler" -> "LCM";
            default -> name.isEmpty() ? "unknown" : name;
        };
    }

    @Override
    public void close() {
        try {
            unetRunner.close();
        } finally {
            if (arena != null) arena.close();
        }
    }
}
