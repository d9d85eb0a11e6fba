package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;

/**
 * A diffusion sampler with diffusers' semantics. Stateful (history of model outputs, step counter): one instance per
 * generation. Tensors are host f32 latents of any shape; steps are addressed by index into {@link #timesteps()}.
 *
 * <p>Usage, as diffusers' pipeline does: {@code setTimesteps(n)}; latents = noise × {@link #initNoiseSigma()}; for each
 * i: input = {@link #scaleModelInput}(latents, i); eps = unet(input, timesteps()[i]); latents = {@link #step}(eps, i,
 * latents, generator).
 */
public interface Scheduler {
    /** Prepares the schedule for {@code numInferenceSteps} and resets all state. */
    void setTimesteps(int numInferenceSteps);

    /** The model timesteps of the current schedule, one per loop iteration (PNDM repeats one; LMS has fractions). */
    double[] timesteps();

    /** Standard deviation of the initial noise. */
    double initNoiseSigma();

    /** The UNet input for iteration {@code stepIndex} (sigma-scaled for Euler-type samplers, unchanged otherwise). */
    Tensor scaleModelInput(Tensor sample, int stepIndex);

    /** One denoising step: the previous (less noisy) sample. {@code noise} is only drawn from by stochastic samplers. */
    Tensor step(Tensor modelOutput, int stepIndex, Tensor sample, NoiseGenerator noise);

    /**
     * Makes iteration {@code beginIndex} of {@link #timesteps()} the loop's first (diffusers' {@code set_begin_index},
     * what image to image calls with {@code t_start · order} after {@code setTimesteps}): the samplers with a history
     * (PNDM, LMS, DPM-Solver) start it there, as diffusers' do when the pipeline passes them the sliced timesteps.
     * Every scheduler here has diffusers' {@code order} 1, so the index is the step count skipped.
     */
    void setBeginIndex(int beginIndex);

    /**
     * diffusers' {@code add_noise(original, noise, timesteps[stepIndex])} after {@code set_begin_index(stepIndex)}: the
     * clean latents noised to the level of iteration {@code stepIndex}, {@code sqrt(ᾱ_t)·x + sqrt(1 − ᾱ_t)·noise} for the
     * DDPM-type samplers (DDIM, PNDM, LCM), {@code x + σ·noise} for the sigma-space ones (Euler, Euler a, LMS) and
     * {@code α_σ·x + σ·α_σ·noise}, α_σ = 1 / sqrt(σ² + 1), for DPM-Solver; float32 as diffusers computes it. Host
     * tensors of one shape.
     */
    Tensor addNoise(Tensor original, Tensor noise, int stepIndex);
}
