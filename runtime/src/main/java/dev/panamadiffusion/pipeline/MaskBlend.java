package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.schedulers.Scheduler;
import dev.panamadiffusion.tensor.Tensor;

/**
 * What inpainting does to each step's latents with an ordinary 4-channel UNet, as diffusers'
 * {@code StableDiffusionInpaintPipeline}: {@code (1 − mask) · proper + mask · latents}, where {@code proper} is the
 * image's latents noised by the start's noise to the next step's level ({@code add_noise} at iteration i + 1), or
 * the image's latents themselves after the last step. {@link #NONE} leaves the latents as they are.
 *
 * @param imageLatents host [B, C, h, w]: scaling_factor · the image's posterior sample
 * @param noise        host [B, C, h, w]: the noise the start drew
 * @param mask         host [B, 1, h, w]: 1 where to repaint, 0 where to keep the image
 */
record MaskBlend(Tensor imageLatents, Tensor noise, Tensor mask) {
    static final MaskBlend NONE = new MaskBlend(null, null, null);

    /** The latents after the scheduler step at iteration {@code stepIndex}, blended. */
    Tensor apply(Tensor latents, Scheduler scheduler, int stepIndex) {
        if (mask == null) return latents;
        boolean last = stepIndex >= scheduler.timesteps().length - 1;
        Tensor proper = last ? imageLatents : scheduler.addNoise(imageLatents, noise, stepIndex + 1); // [B, C, h, w]
        float[] p = proper.toFloatArray(), x = latents.toFloatArray(), m = mask.toFloatArray();
        long[] shape = latents.shape();
        int channels = Math.toIntExact(shape[1]), plane = Math.toIntExact(shape[2] * shape[3]);
        for (int i = 0; i < x.length; i++) {
            int b = i / (channels * plane), pix = i % plane;
            float mi = m[b * plane + pix];
            x[i] = (1f - mi) * p[i] + mi * x[i];
        }
        return Tensor.fromFloats(x, shape);                                                       // [B, C, h, w]
    }
}
