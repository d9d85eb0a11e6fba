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
}
