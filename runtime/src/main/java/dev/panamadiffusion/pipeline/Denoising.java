package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.schedulers.Scheduler;
import dev.panamadiffusion.tensor.Tensor;

import java.util.List;

/**
 * One request in the middle of its denoising loop: everything that is its own (resolved request, scheduler state,
 * noise generator, text conditioning, latents), so that {@link StableDiffusionPipeline#step} can run the UNet for
 * several requests in one batch while each keeps diffusers' semantics. Made by {@link StableDiffusionPipeline#begin};
 * used by one thread at a time.
 */
public final class Denoising {
    final GenerationRequest request;  // seed, width and height resolved
    final String samplerName;
    final Scheduler scheduler;
    final NoiseGenerator generator;
    final Tensor hostContext;         // [(2)B, 77, D] host: unconditional rows first when guided
    final Tensor context;             // the same on the backend
    final Tensor addEmbeds;           // [(2)B, P] host: SDXL's add_embedding input (pooled text, time ids), or null
    final List<String> warnings;      // for the result: a prompt cut at the text encoder's length
    final long startNanos;
    final boolean guided;             // classifier-free guidance: two UNet rows per image
    final Tensor timestepCond;        // [B, time_cond_proj_dim] host: the guidance embedding, or null
    final int beginIndex;             // the schedule iteration the loop starts at (image to image: t_start)
    final int endIndex;               // the iteration it stops before: the schedule's length, or denoising_end's cutoff
    final Double strength;            // image to image's strength, or null
    final MaskBlend blend;            // inpainting's per-step blend, or MaskBlend.NONE
    final InpaintConditioning conditioning; // a 9-channel inpainting UNet's mask and masked latents, or NONE
    final MaskOptions.Overlay overlay; // inpainting with padding_mask_crop: how pictures go back into the original, or null
    Tensor latents;                   // [B, C, h, w] host
    int step;                         // the schedule iteration the next step runs
    StepObserver observer = StepObserver.NONE;
    CancellationToken cancellation = CancellationToken.none();

    Denoising(GenerationRequest request, String samplerName, Scheduler scheduler, NoiseGenerator generator,
               Tensor hostContext, Tensor context, Tensor addEmbeds, Tensor latents, List<String> warnings, long startNanos,
               boolean guided, Tensor timestepCond, int beginIndex, int endIndex, Double strength, MaskBlend blend,
               InpaintConditioning conditioning, MaskOptions.Overlay overlay) {
        this.request = request;
        this.samplerName = samplerName;
        this.scheduler = scheduler;
        this.generator = generator;
        this.hostContext = hostContext;
        this.context = context;
        this.addEmbeds = addEmbeds;
        this.latents = latents;
        this.warnings = List.copyOf(warnings);
        this.startNanos = startNanos;
        this.guided = guided;
        this.timestepCond = timestepCond;
        this.beginIndex = beginIndex;
        this.endIndex = endIndex;
        this.strength = strength;
        this.blend = blend;
        this.conditioning = conditioning;
        this.overlay = overlay;
        this.step = beginIndex;
    }

    /** The request as it runs: seed, width and height resolved. */
    public GenerationRequest request() { return request; }

    /** UNet rows this request needs per step: twice its batch with classifier-free guidance. */
    public int rows() { return guided ? 2 * request.batchSize() : request.batchSize(); }

    /**
     * Whether the steps run classifier-free guidance: the request's guidance is above 1 and the UNet does not take it
     * as an embedding (diffusers' {@code do_classifier_free_guidance}).
     */
    public boolean guided() { return guided; }

    /**
     * The UNet's {@code timestep_cond}: the embedding of w = guidance − 1, host [B, time_cond_proj_dim], for a UNet
     * with {@code time_cond_proj_dim} (LCM-distilled); null otherwise.
     */
    public Tensor timestepCond() { return timestepCond; }

    /**
     * SDXL's added conditioning per UNet row, host [(2)B, projection_class_embeddings_input_dim] (the pooled text
     * embedding and the embedded time ids, {@link dev.panamadiffusion.models.unet.UNet2DConditionModel#addEmbeds}); null
     * for a UNet without text_time.
     */
    public Tensor addEmbeds() { return addEmbeds; }

    /** Steps taken so far. */
    public int stepsDone() { return step - beginIndex; }

    /**
     * Loop iterations it runs: those of its schedule (PNDM's PLMS runs one more than the requested steps) from
     * {@link #beginIndex()} up to {@link #endIndex()}.
     */
    public int totalSteps() { return endIndex - beginIndex; }

    /** The schedule iteration the loop started at: 0, or image to image's {@code t_start}. */
    public int beginIndex() { return beginIndex; }

    /**
     * The schedule iteration the loop stops before: the schedule's length, or fewer with SDXL's
     * {@link SdxlOptions#denoisingEnd}.
     */
    public int endIndex() { return endIndex; }

    public boolean finished() { return step >= endIndex; }

    /** Whether {@code o}'s latents can share a UNet batch with these (same channels, height and width). */
    public boolean sameLatentShape(Denoising o) {
        return latents.dim(1) == o.latents.dim(1) && latents.dim(2) == o.latents.dim(2) && latents.dim(3) == o.latents.dim(3);
    }

    /** The current latents (host, [B, C, h, w]). */
    public Tensor latents() { return latents; }

    /** The scheduler, with its timesteps set. */
    public Scheduler scheduler() { return scheduler; }

    /**
     * Lets {@code token} stop a step of this request between UNet blocks: a step whose requests are all cancelled is
     * abandoned with a {@link java.util.concurrent.CancellationException} (the latents stay as before the step).
     */
    public void cancelWith(CancellationToken token) { cancellation = token == null ? CancellationToken.none() : token; }

    /** Hands every later step's intermediates to {@code o} (replacing any earlier observer). */
    public void observe(StepObserver o) { observer = o == null ? StepObserver.NONE : o; }
}
