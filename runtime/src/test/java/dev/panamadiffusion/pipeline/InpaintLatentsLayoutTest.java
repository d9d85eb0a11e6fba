package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.schedulers.Scheduler;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.schedulers.Schedulers;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The per-image layout of the inpainting latents with a batch of two whose masks differ, channels and a plane of
 * different sizes (so a row, channel or image index mixed up lands elsewhere): {@link InpaintConditioning#extend}
 * ({@code torch.cat([latents, mask, masked_image_latents], dim=1)}, mask and masked latents {@code torch.cat([x] * 2)}
 * for guidance), {@link MaskBlend#apply} ({@code (1 - mask) * init_latents_proper + mask * latents}) and
 * {@link InpaintFill#startLatents} (A1111's {@code init_latent * (1 - mask) + noise * mask}).
 * Expectations are written index by index [b, c, y, x].
 */
class InpaintLatentsLayoutTest {
    static final int B = 2, C = 2, H = 2, W = 3, PLANE = H * W;

    /** Distinct values: 1000 · tag + index. */
    static Tensor distinct(int tag, int rows, int channels) {
        float[] v = new float[rows * channels * PLANE];
        for (int i = 0; i < v.length; i++) v[i] = 1000 * tag + i;
        return Tensor.fromFloats(v, rows, channels, H, W);
    }

    /** Image 0 repaints its left column, image 1 its right two columns. */
    static Tensor masks() {
        float[] m = new float[B * PLANE];
        for (int y = 0; y < H; y++) {
            m[y * W] = 1;
            m[PLANE + y * W + 1] = 1;
            m[PLANE + y * W + 2] = 1;
        }
        return Tensor.fromFloats(m, B, 1, H, W);
    }

    static float at(float[] t, int channels, int b, int c, int p) { return t[(b * channels + c) * PLANE + p]; }

    @Test
    void extendPutsEachRowsImageMaskAndMaskedLatentsAfterItsLatents() {
        Tensor mask = masks(), masked = distinct(2, B, C);
        InpaintConditioning cond = new InpaintConditioning(mask, masked);
        for (int rows : new int[] {B, 2 * B}) {
            Tensor scaled = distinct(1, rows, C);
            Tensor y = cond.extend(scaled);
            assertArrayEquals(new long[] {rows, 2 * C + 1, H, W}, y.shape());
            float[] o = y.toFloatArray(), x = scaled.toFloatArray(), m = mask.toFloatArray(), z = masked.toFloatArray();
            for (int r = 0; r < rows; r++) {
                int b = r % B; // torch.cat([mask] * 2): the unconditional rows, then the conditional ones, image by image
                for (int p = 0; p < PLANE; p++) {
                    for (int c = 0; c < C; c++) {
                        assertEquals(at(x, C, r, c, p), at(o, 2 * C + 1, r, c, p), "latents r" + r + " c" + c + " p" + p);
                        assertEquals(at(z, C, b, c, p), at(o, 2 * C + 1, r, C + 1 + c, p), "masked r" + r + " c" + c + " p" + p);
                    }
                    assertEquals(m[b * PLANE + p], at(o, 2 * C + 1, r, C, p), "mask r" + r + " p" + p);
                }
            }
        }
        Tensor plain = distinct(1, 1, C);
        assertSame(plain, InpaintConditioning.NONE.extend(plain), "no inpainting UNet: the latents as they are");
    }

    @Test
    void extendRefusesWhatDoesNotFit() {
        InpaintConditioning cond = new InpaintConditioning(masks(), distinct(2, B, C));
        assertThrows(IllegalArgumentException.class, () -> cond.extend(distinct(1, 3, C)), "3 rows for 2 images");
        assertThrows(IllegalArgumentException.class, () -> cond.extend(distinct(1, B, C + 1)), "other channels");
        assertThrows(IllegalArgumentException.class, () -> cond.extend(Tensor.fromFloats(new float[B * C * 4], B, C, 2, 2)),
                "another plane");
    }

    @Test
    void maskBlendKeepsEachImagesUnmaskedAreaAtTheLastStep() {
        Path dir = Path.of(System.getProperty("pd.home", "..")).resolve("models/pdiff-demo/scheduler");
        Scheduler s = Schedulers.create("Euler", SchedulerConfig.read(dir.resolve("scheduler_config.json")));
        s.setTimesteps(2);
        Tensor image = distinct(3, B, C), noise = distinct(4, B, C), mask = masks(), latents = distinct(5, B, C);
        float[] out = new MaskBlend(image, noise, mask).apply(latents, s, 1).toFloatArray();
        float[] im = image.toFloatArray(), lat = latents.toFloatArray(), m = mask.toFloatArray();
        for (int b = 0; b < B; b++) {
            for (int c = 0; c < C; c++) {
                for (int p = 0; p < PLANE; p++) {
                    float expected = m[b * PLANE + p] == 1 ? at(lat, C, b, c, p) : at(im, C, b, c, p);
                    assertEquals(expected, at(out, C, b, c, p), "b" + b + " c" + c + " p" + p);
                }
            }
        }
    }

    @Test
    void latentFillsReplaceEachImagesMaskedArea() {
        Tensor image = distinct(6, B, C), noise = distinct(7, B, C), mask = masks();
        float[] im = image.toFloatArray(), n = noise.toFloatArray(), m = mask.toFloatArray();
        float[] withNoise = InpaintFill.LATENT_NOISE.startLatents(image, noise, mask).toFloatArray();
        float[] withNothing = InpaintFill.LATENT_NOTHING.startLatents(image, noise, mask).toFloatArray();
        for (int b = 0; b < B; b++) {
            for (int c = 0; c < C; c++) {
                for (int p = 0; p < PLANE; p++) {
                    boolean masked = m[b * PLANE + p] == 1;
                    assertEquals(masked ? at(n, C, b, c, p) : at(im, C, b, c, p), at(withNoise, C, b, c, p), "noise b" + b + " c" + c + " p" + p);
                    assertEquals(masked ? 0f : at(im, C, b, c, p), at(withNothing, C, b, c, p), "nothing b" + b + " c" + c + " p" + p);
                }
            }
        }
    }
}
