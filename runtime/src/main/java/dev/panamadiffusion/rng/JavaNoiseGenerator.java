package dev.panamadiffusion.rng;

import dev.panamadiffusion.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * Gaussian noise from the JDK's {@link SplittableRandom} ({@link SplittableRandom#nextGaussian()}). Reproducible for a
 * given seed and JDK, fast, but <b>not</b> torch-compatible: the same seed gives different latents (and images) than
 * diffusers; use {@link TorchCpuGenerator} for that. Not thread-safe.
 */
public final class JavaNoiseGenerator implements NoiseGenerator {
    private final SplittableRandom random;

    public JavaNoiseGenerator(long seed) {
        random = new SplittableRandom(seed);
    }

    @Override
    public Tensor randn(long... shape) {
        float[] out = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < out.length; i++) out[i] = (float) random.nextGaussian();
        return Tensor.fromFloats(out, shape);
    }
}
