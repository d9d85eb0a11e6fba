package dev.panamadiffusion.models.unet;

/**
 * A scalar transcription of SLEEF's single-precision {@code expf} (1.0-ULP variant, {@code xexpf} as built for AVX2
 * with fused multiply-adds), which PyTorch's CPU kernels use for {@code torch.exp} on float32 tensors. It is not
 * correctly rounded: about one value in ten differs from {@code (float) Math.exp(x)} in the last bit, which matters
 * where the result is multiplied by a thousand before a sine (diffusers' guidance-scale embedding).
 */
final class SleefExp {
    private static final float R_LN2 = 1.442695040888963407359924681001892137426645954152985934135449406931f;
    private static final float L2U = 0.693145751953125f;
    private static final float L2L = 1.428606765330187045e-06f;

    private SleefExp() {}

    /**
     * SLEEF's cut-offs: 0 below −104 and +∞ above 100 (where the reduction {@code d − q·ln 2} in float32 no longer
     * holds: past about 9·10⁷ it can leave a large negative remainder, and the polynomial then gives −∞).
     */
    static float expf(float d) {
        if (d < -104f) return 0f;
        if (d > 100f) return Float.POSITIVE_INFINITY;
        int q = (int) Math.rint(d * R_LN2);  // vrint_vi2_vf: round to nearest, ties to even
        float s = Math.fma((float) q, -L2U, d);
        s = Math.fma((float) q, -L2L, s);
        float u = 0.000198527617612853646278381f;
        u = Math.fma(u, s, 0.00139304355252534151077271f);
        u = Math.fma(u, s, 0.00833336077630519866943359f);
        u = Math.fma(u, s, 0.0416664853692054748535156f);
        u = Math.fma(u, s, 0.166666671633720397949219f);
        u = Math.fma(u, s, 0.5f);
        u = 1f + Math.fma(s * s, u, s);
        // vldexp2: u · 2^(q >> 1) · 2^(q − (q >> 1))
        return u * Math.scalb(1f, q >> 1) * Math.scalb(1f, q - (q >> 1));
    }
}
