package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.tensor.Tensor;

import java.util.Random;

/** Standard-normal host tensors from {@link Random#nextGaussian} with a fixed seed, for the pipeline tests. */
final class Gaussian {
    private Gaussian() {}

    static Tensor gaussian(long seed, long... shape) {
        Random r = new Random(seed);
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return Tensor.fromFloats(v, shape);
    }
}
