package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.tensor.Tensor;

/**
 * Sees every denoising step of one generation, with its intermediates, as diffusers' {@code callback_on_step_end}
 * sees the latents: what {@code pdiff verify} compares with recorded diffusers loops, and what a caller uses to show
 * previews. Called on the pipeline's thread after the scheduler step; the tensors are host f32 and the observer's to
 * keep.
 */
@FunctionalInterface
public interface StepObserver {
    StepObserver NONE = step -> {};

    void onStep(Step step);

    /**
     * One step.
     *
     * @param index      the loop iteration, from 0
     * @param timestep   the scheduler's timestep for it
     * @param modelInput the UNet's input: the scaled latents, twice with guidance [(2)B, C, h, w]
     * @param noisePred  the UNet's output [(2)B, C, h, w], unconditional rows first with guidance
     * @param guided     what the scheduler steps with: {@code uncond + g · (text − uncond)}, or the output [B, C, h, w]
     * @param latents    the latents after the scheduler step [B, C, h, w]
     */
    record Step(int index, double timestep, Tensor modelInput, Tensor noisePred, Tensor guided, Tensor latents) {}
}
