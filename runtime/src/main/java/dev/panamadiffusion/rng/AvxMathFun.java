package dev.panamadiffusion.rng;

/**
 * Scalar transcriptions of the single-precision {@code log} and {@code sincos} approximations that PyTorch's AVX2 CPU
 * kernels use for {@code normal_()} (Cephes polynomials, as vectorised in the widely copied {@code avx_mathfun.h}).
 *
 * <p>They are not correctly rounded, so {@link Math#log} and {@link Math#sin} give different last bits. To be
 * bit-identical to torch, each operation is performed in float in the same order, with a fused multiply-add exactly
 * where the compiler fuses one in the torch build (a product feeding an addition); the reference tensors in
 * {@code shared/reference/rng} confirm every bit.
 */
final class AvxMathFun {
    private static final float SQRTHF = 0.707106781186547524f;
    private static final float LOG_P0 = 7.0376836292E-2f;
    private static final float LOG_P1 = -1.1514610310E-1f;
    private static final float LOG_P2 = 1.1676998740E-1f;
    private static final float LOG_P3 = -1.2420140846E-1f;
    private static final float LOG_P4 = 1.4249322787E-1f;
    private static final float LOG_P5 = -1.6668057665E-1f;
    private static final float LOG_P6 = 2.0000714765E-1f;
    private static final float LOG_P7 = -2.4999993993E-1f;
    private static final float LOG_P8 = 3.3333331174E-1f;
    private static final float LOG_Q1 = -2.12194440e-4f;
    private static final float LOG_Q2 = 0.693359375f;
    private static final float MIN_NORM_POS = Float.MIN_NORMAL;

    private static final float FOPI = 1.27323954473516f; // 4 / pi
    private static final float MINUS_DP1 = -0.78515625f;
    private static final float MINUS_DP2 = -2.4187564849853515625e-4f;
    private static final float MINUS_DP3 = -3.77489497744594108e-8f;
    private static final float SINCOF_P0 = -1.9515295891E-4f;
    private static final float SINCOF_P1 = 8.3321608736E-3f;
    private static final float SINCOF_P2 = -1.6666654611E-1f;
    private static final float COSCOF_P0 = 2.443315711809948E-005f;
    private static final float COSCOF_P1 = -1.388731625493765E-003f;
    private static final float COSCOF_P2 = 4.166664568298827E-002f;

    private AvxMathFun() {}

    /** Natural logarithm; NaN for {@code x <= 0}. */
    static float log(float x) {
        if (!(x > 0f)) return Float.NaN;
        x = Math.max(x, MIN_NORM_POS);
        int bits = Float.floatToRawIntBits(x);
        float e = (float) ((bits >>> 23) - 0x7f) + 1f;
        // mantissa in [0.5, 1)
        x = Float.intBitsToFloat((bits & ~0x7f800000) | 0x3f000000);
        boolean small = x < SQRTHF;
        float tmp = small ? x : 0f;
        x = x - 1f;
        if (small) e = e - 1f;
        x = x + tmp;
        float z = x * x;
        float y = Math.fma(LOG_P0, x, LOG_P1);
        y = Math.fma(y, x, LOG_P2);
        y = Math.fma(y, x, LOG_P3);
        y = Math.fma(y, x, LOG_P4);
        y = Math.fma(y, x, LOG_P5);
        y = Math.fma(y, x, LOG_P6);
        y = Math.fma(y, x, LOG_P7);
        y = Math.fma(y, x, LOG_P8);
        y = y * x;
        y = Math.fma(y, z, e * LOG_Q1);
        y = y - z * 0.5f;
        x = x + y;
        return Math.fma(e, LOG_Q2, x);
    }

    /** Sine and cosine of {@code x}, written to {@code out[0]} and {@code out[1]}. */
    static void sincos(float x, float[] out) {
        boolean negative = x < 0f;
        x = Math.abs(x);
        int j = (int) (x * FOPI);
        j = (j + 1) & ~1;
        float y = j;
        boolean swapSinSign = (j & 4) != 0;
        boolean direct = (j & 2) == 0; // octant where sin uses the sine polynomial
        x = Math.fma(y, MINUS_DP1, x);
        x = Math.fma(y, MINUS_DP2, x);
        x = Math.fma(y, MINUS_DP3, x);
        boolean cosNegative = (~(j - 2) & 4) != 0;
        boolean sinNegative = negative ^ swapSinSign;

        float z = x * x;
        float c = Math.fma(COSCOF_P0, z, COSCOF_P1);
        c = Math.fma(c, z, COSCOF_P2);
        c = c * z;
        c = Math.fma(c, z, -(z * 0.5f));
        c = c + 1f;

        float s = Math.fma(SINCOF_P0, z, SINCOF_P1);
        s = Math.fma(s, z, SINCOF_P2);
        s = s * z;
        s = Math.fma(s, x, x);

        float sin = direct ? s : c;
        float cos = direct ? c : s;
        out[0] = sinNegative ? -sin : sin;
        out[1] = cosNegative ? -cos : cos;
    }
}
