package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.MaskFill;
import dev.panamadiffusion.tensor.Tensor;

import java.util.Arrays;
import java.util.Locale;

/**
 * What the masked area starts from when inpainting below strength 1: AUTOMATIC1111's "masked content"
 * ({@code inpainting_fill}, its numbers in {@link #a1111}). diffusers knows only {@link #ORIGINAL}.
 *
 * <ul>
 *   <li>{@link #FILL} (0): the picture's masked area painted over with the colours around it before it is encoded
 *       ({@link MaskFill}, AUTOMATIC1111's {@code masking.fill}, with the blurred and cropped mask);</li>
 *   <li>{@link #ORIGINAL} (1): the picture as it is;</li>
 *   <li>{@link #LATENT_NOISE} (2): the encoded picture's latents inside the mask replaced by the run's initial noise
 *       (AUTOMATIC1111 draws {@code create_random_tensors} from the same seeds, so the same noise), then noised to the
 *       starting level as usual;</li>
 *   <li>{@link #LATENT_NOTHING} (3): those latents set to 0.</li>
 * </ul>
 *
 * Both latent modes, as AUTOMATIC1111, also pre-fill the picture ({@link #FILL}) before it is encoded. The latent
 * mask is the run's (the binarized mask at latent size, as the blending uses), where AUTOMATIC1111 resizes its mask
 * bicubically and rounds: the two can differ by a latent pixel along the mask's edge. At strength 1 the run starts
 * from noise alone and the modes differ only through a 9-channel UNet's masked picture, which is blank there anyway.
 */
public enum InpaintFill {
    FILL(0, "fill"), ORIGINAL(1, "original"), LATENT_NOISE(2, "latent noise"), LATENT_NOTHING(3, "latent nothing");

    /** AUTOMATIC1111's {@code inpainting_fill} number. */
    public final int a1111;
    /** AUTOMATIC1111's name for it (its "Masked content" radio buttons). */
    public final String label;

    InpaintFill(int a1111, String label) {
        this.a1111 = a1111;
        this.label = label;
    }

    /** The mode with AUTOMATIC1111's number {@code code}; another number is an {@link IllegalArgumentException}. */
    public static InpaintFill ofA1111(long code) {
        for (InpaintFill f : values()) if (f.a1111 == code) return f;
        throw new IllegalArgumentException("inpainting_fill must be 0 (fill), 1 (original), 2 (latent noise) or 3 (latent nothing), got " + code);
    }

    /** {@code original}, {@code fill}, {@code latent-noise} or {@code latent-nothing} (case and - / _ / space alike). */
    public static InpaintFill parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT).replace('_', ' ').replace('-', ' ');
        for (InpaintFill f : values()) if (f.label.equals(n)) return f;
        throw new IllegalArgumentException("unknown masked content '" + name + "' (use original, fill, latent-noise or latent-nothing)");
    }

    /** The CLI spelling: {@code latent-noise}. */
    public String cliName() { return label.replace(' ', '-'); }

    /** Whether the picture is pre-filled before it is encoded. */
    boolean fillsPixels() { return this != ORIGINAL; }

    /**
     * The latents the run noises to its starting level: {@code imageLatents} as they are, or with the masked area
     * replaced by {@code noise} or 0.
     *
     * @param imageLatents [B, C, h, w]
     * @param noise        [B, C, h, w], the run's initial noise
     * @param mask         [B, 1, h, w], 1 where to repaint
     */
    Tensor startLatents(Tensor imageLatents, Tensor noise, Tensor mask) {
        if (this != LATENT_NOISE && this != LATENT_NOTHING) return imageLatents;
        long[] shape = imageLatents.shape();
        float[] x = imageLatents.toFloatArray(), m = mask.toFloatArray();
        float[] n = this == LATENT_NOISE ? noise.toFloatArray() : new float[x.length];
        int channels = Math.toIntExact(shape[1]), plane = Math.toIntExact(shape[2] * shape[3]);
        for (int i = 0; i < x.length; i++) {
            float mi = m[i / (channels * plane) * plane + i % plane];
            x[i] = x[i] * (1f - mi) + n[i] * mi;                 // A1111: init_latent * mask + noise * nmask
        }
        return Tensor.fromFloats(x, Arrays.copyOf(shape, shape.length));                      // [B, C, h, w]
    }
}
