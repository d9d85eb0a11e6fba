package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.schedulers.Scheduler;
import dev.panamadiffusion.tensor.Tensor;

import java.util.Arrays;

/**
 * SDXL's denoising window ({@link SdxlOptions#denoisingStart()}, {@link SdxlOptions#denoisingEnd()}: diffusers'
 * "ensemble of expert denoisers", the base stopping early and the refiner taking over): what a request may combine,
 * the image latents it hands over, and the loop iterations the window keeps.
 */
final class DenoisingWindow {
    private DenoisingWindow() {}

    /**
     * SDXL's {@code denoising_start} needs an image or its latents and (as {@code denoising_end}) no mask here;
     * image latents need {@code denoising_start}. Each problem an {@link InvalidRequestException}.
     */
    static void problems(SdxlOptions o, InitImage init, Tensor imageLatents) {
        if (o.denoisingStart() != null && init == null && imageLatents == null) {
            throw InvalidRequestException.of("denoisingStart", "is image to image's (the refiner's half of an ensemble of"
                    + " expert denoisers): give the image, or the latents an SDXL base left with denoising_end");
        }
        if ((o.denoisingStart() != null || o.denoisingEnd() != null) && init != null && init.mask() != null) {
            throw InvalidRequestException.of(o.denoisingStart() != null ? "denoisingStart" : "denoisingEnd",
                    "is not supported with a mask (inpainting) yet");
        }
        if (imageLatents != null && o.denoisingStart() == null) {
            throw InvalidRequestException.of("denoisingStart", "is needed with given image latents: they are taken as a"
                    + " partly denoised state, as diffusers' image-to-image pipelines take them with denoising_start");
        }
    }

    /** Image latents [1 or B, C, h, w] of the request's latent shape [B, C, h, w], as f32. */
    static Tensor checkedImageLatents(Tensor latents, long[] shape) {
        if (latents.rank() != 4 || latents.dim(1) != shape[1] || latents.dim(2) != shape[2] || latents.dim(3) != shape[3]
                || latents.dim(0) != 1 && latents.dim(0) != shape[0]) {
            throw new IllegalArgumentException("image latents are " + Arrays.toString(latents.shape()) + " but the request"
                    + " needs [1 or " + shape[0] + ", " + shape[1] + ", " + shape[2] + ", " + shape[3] + "]");
        }
        return latents.to(dev.panamadiffusion.tensor.DType.F32).contiguous();
    }

    /**
     * Where {@code denoising_start} begins the loop (diffusers' {@code get_timesteps}): the last n iterations, n the
     * timesteps below {@link SdxlOptions#timestepCutoff}. None left is an {@link InvalidRequestException}.
     */
    static int startIndex(Scheduler scheduler, double denoisingStart, int trainTimesteps) {
        double[] ts = scheduler.timesteps();
        int cutoff = SdxlOptions.timestepCutoff(denoisingStart, trainTimesteps);
        int n = 0;
        for (double t : ts) if (t < cutoff) n++;
        if (n == 0) {
            throw InvalidRequestException.of("denoisingStart", denoisingStart + " leaves no step of " + ts.length
                    + " (no timestep below " + cutoff + ")");
        }
        return ts.length - n;
    }

    /**
     * Where {@code denoisingEnd} (null: none) stops the loop begun at {@code begin}: after the timesteps at or above
     * {@link SdxlOptions#timestepCutoff} (diffusers' {@code denoising_end}). None left is an
     * {@link InvalidRequestException}.
     */
    static int endIndex(Scheduler scheduler, int begin, Double denoisingEnd, int trainTimesteps) {
        double[] ts = scheduler.timesteps();
        if (denoisingEnd == null) return ts.length;
        int cutoff = SdxlOptions.timestepCutoff(denoisingEnd, trainTimesteps);
        int n = 0;
        for (int i = begin; i < ts.length; i++) if (ts[i] >= cutoff) n++;
        if (n == 0) {
            throw InvalidRequestException.of("denoisingEnd", denoisingEnd + " leaves no step (no timestep at or above "
                    + cutoff + ")");
        }
        return begin + n;
    }
}
