package dev.panamadiffusion.rng;

import dev.panamadiffusion.tensor.Tensor;

/**
 * Reproduces {@code torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))} in float32, bit for bit,
 * including the state carried between successive draws from one generator.
 *
 * <p>What torch does (PyTorch 1.13 on x86-64, whose CPU dispatch picks the AVX2 kernel; the reference tensors in
 * {@code shared/reference/rng} come from it), and therefore this class:
 * <ul>
 *   <li>The engine is {@link Mt19937} seeded with the seed's low 32 bits. A float uniform is the low 24 bits of one
 *       32-bit draw times 2<sup>-24</sup>; a double uniform is the low 53 bits of a 64-bit draw (two 32-bit draws,
 *       the first one high) times 2<sup>-53</sup>.</li>
 *   <li>Tensors of 16 or more elements: first one float uniform per element, in order; then every whole block of 16
 *       becomes 16 normals by Box-Muller, element j and j+8 (j &lt; 8) from u1 = 1 - data[j], u2 = data[j + 8]:
 *       r = sqrt(-2 log u1), data[j] = r cos(2 pi u2), data[j+8] = r sin(2 pi u2), with torch's AVX2 float
 *       {@code log}/{@code sincos} ({@link AvxMathFun}). If the size is not a multiple of 16, the last 16 elements
 *       are refilled with 16 fresh uniforms and transformed again, overwriting part of the last whole block.</li>
 *   <li>Tensors of fewer than 16 elements: one double-precision Box-Muller normal per element from two double
 *       uniforms, r cos(theta) returned and r sin(theta) cached in the generator for the next scalar normal (the
 *       cache survives large draws in between and is cleared by {@link #manualSeed}).</li>
 * </ul>
 * A torch build that dispatches the scalar fallback instead of the AVX2 kernel computes the large-tensor normals with
 * the C library's {@code log}/{@code cos}/{@code sin} and differs from these in the last bits (about 1e-6).
 * Not thread-safe.
 */
public final class TorchCpuGenerator implements NoiseGenerator {
    private static final int BLOCK = 16;
    private static final float TWO_PI = (float) (2.0 * Math.PI);
    private static final float FLOAT_UNIT = 0x1.0p-24f;
    private static final double DOUBLE_UNIT = 0x1.0p-53;

    private final Mt19937 engine;
    private boolean hasCachedNormal;
    private double cachedNormal;

    public TorchCpuGenerator(long seed) {
        engine = new Mt19937(seed);
    }

    /** Restarts the generator as {@code torch.Generator.manual_seed(seed)} does. */
    public void manualSeed(long seed) {
        engine.seed(seed);
        hasCachedNormal = false;
    }

    @Override
    public Tensor randn(long... shape) {
        return Tensor.fromFloats(randnFloats(Math.toIntExact(Tensor.numel(shape))), shape);
    }

    /** {@code torch.rand(shape, generator=...)}: uniform floats in [0, 1). */
    public Tensor rand(long... shape) {
        float[] out = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < out.length; i++) out[i] = nextFloatUniform();
        return Tensor.fromFloats(out, shape);
    }

    /** {@code n} standard normals, as {@code torch.randn(n)} on this generator returns them. */
    public float[] randnFloats(int n) {
        float[] data = new float[n];
        if (n >= BLOCK) {
            for (int i = 0; i < n; i++) data[i] = nextFloatUniform();
            float[] sincos = new float[2];
            for (int i = 0; i + BLOCK <= n; i += BLOCK) normalFill16(data, i, sincos);
            if (n % BLOCK != 0) {
                int tail = n - BLOCK;
                for (int i = 0; i < BLOCK; i++) data[tail + i] = nextFloatUniform();
                normalFill16(data, tail, sincos);
            }
        } else {
            for (int i = 0; i < n; i++) data[i] = (float) nextDoubleNormal();
        }
        return data;
    }

    /** Box-Muller on 16 uniforms in place: pairs (j, j + 8). */
    private static void normalFill16(float[] data, int offset, float[] sincos) {
        for (int j = 0; j < BLOCK / 2; j++) {
            float u1 = 1f - data[offset + j]; // [0, 1) -> (0, 1] for the log
            float u2 = data[offset + j + 8];
            float radius = (float) Math.sqrt(-2f * AvxMathFun.log(u1));
            AvxMathFun.sincos(TWO_PI * u2, sincos);
            data[offset + j] = radius * sincos[1];
            data[offset + j + 8] = radius * sincos[0];
        }
    }

    private float nextFloatUniform() {
        return (engine.nextInt() & 0xFFFFFF) * FLOAT_UNIT;
    }

    private long random64() {
        long hi = Integer.toUnsignedLong(engine.nextInt());
        long lo = Integer.toUnsignedLong(engine.nextInt());
        return (hi << 32) | lo;
    }

    private double nextDoubleUniform() {
        return (random64() & ((1L << 53) - 1)) * DOUBLE_UNIT;
    }

    private double nextDoubleNormal() {
        if (hasCachedNormal) {
            hasCachedNormal = false;
            return cachedNormal;
        }
        double u1 = nextDoubleUniform();
        double u2 = nextDoubleUniform();
        double r = Math.sqrt(-2.0 * Math.log(1.0 - u2));
        double theta = 2.0 * Math.PI * u1;
        cachedNormal = r * Math.sin(theta);
        hasCachedNormal = true;
        return r * Math.cos(theta);
    }
}
