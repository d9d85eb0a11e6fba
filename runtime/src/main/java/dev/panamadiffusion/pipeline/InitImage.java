package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What image to image starts from (diffusers' {@code StableDiffusionImg2ImgPipeline} {@code image} and
 * {@code strength}): the picture, encoded by the VAE, is noised to the level of the schedule's iteration
 * {@code steps − int(steps · strength)} and denoised from there, so strength 1 repaints from pure noise level and small
 * strengths keep the picture.
 *
 * <p>The image must have the request's width and height: diffusers' {@code VaeImageProcessor} resizes (Lanczos) to
 * the image's own size rounded down to the VAE's scale, so an image whose size already is such a multiple goes in
 * unchanged, as here; this runtime does not resample.
 *
 * @param image    8-bit RGB, the request's size
 * @param strength in (0, 1]: the share of the schedule that runs
 */
public record InitImage(Rgb8Image image, double strength) {
    public InitImage {
        if (image == null) throw new IllegalArgumentException("image to image needs an image");
    }

    /** Steps that run for {@code steps} requested: diffusers' {@code init_timestep = min(int(steps · strength), steps)}. */
    public int stepsToRun(int steps) {
        return (int) Math.min((long) (steps * strength), steps); // Python's int() truncates the float product, as here
    }

    /** The schedule iteration the loop starts at: diffusers' {@code t_start = max(steps − init_timestep, 0)} (order 1). */
    public int beginIndex(int steps) {
        return Math.max(steps - stepsToRun(steps), 0);
    }

    /**
     * What is wrong with this image for a request of {@code steps} at {@code width} × {@code height} (empty when
     * nothing): strength outside (0, 1], so low a strength that no step would run, or another size. Fields
     * {@code strength} and {@code initImage}.
     */
    public List<InvalidRequestException.Problem> problems(int steps, int width, int height) {
        List<InvalidRequestException.Problem> out = new ArrayList<>();
        if (!(strength > 0 && strength <= 1)) {
            out.add(new InvalidRequestException.Problem("strength", "must be in (0, 1], got " + strength));
        } else if (steps >= 1 && stepsToRun(steps) < 1) {
            out.add(new InvalidRequestException.Problem("strength", String.format(Locale.ROOT,
                    "%s × %d steps leaves no step to run (int(steps × strength) must be at least 1)", strength, steps)));
        }
        if (image.width() != width || image.height() != height) {
            out.add(new InvalidRequestException.Problem("initImage", "is " + image.width() + "x" + image.height()
                    + " but the request is " + width + "x" + height + " (image to image does not resize)"));
        }
        return out;
    }

    /**
     * diffusers' {@code VaeImageProcessor.preprocess} of an image already at its size: {@code 2 · (v / 255) − 1} in
     * float32, host [1, 3, H, W].
     */
    public Tensor pixels() {
        int w = image.width(), h = image.height(), plane = w * h;
        byte[] rgb = image.rgb();
        float[] v = new float[3 * plane];
        for (int p = 0; p < plane; p++) {
            for (int c = 0; c < 3; c++) v[c * plane + p] = 2f * ((rgb[p * 3 + c] & 0xff) / 255f) - 1f;
        }
        return Tensor.fromFloats(v, 1, 3, h, w); // [1, 3, H, W]
    }
}
