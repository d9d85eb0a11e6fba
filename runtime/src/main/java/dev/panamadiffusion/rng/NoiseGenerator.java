package dev.panamadiffusion.rng;

import dev.panamadiffusion.tensor.Tensor;

/** A source of standard-normal noise (initial latents, ancestral sampling). Not thread-safe. */
public interface NoiseGenerator {
    /** A host f32 tensor of N(0, 1) samples, filled in row-major order. */
    Tensor randn(long... shape);
}
