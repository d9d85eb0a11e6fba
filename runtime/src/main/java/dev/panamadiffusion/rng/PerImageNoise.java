package dev.panamadiffusion.rng;

import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * One generator per image of a batch, as diffusers' list of generators ({@code generator=[g0, g1, …]}) and
 * AUTOMATIC1111's per-image seeds: {@code randn([B, …])} draws image i's {@code [1, …]} from generator i, in turn
 * (diffusers' {@code randn_tensor} with a list), so every image's noise, its initial latents and each ancestral
 * step's, comes from its own stream, whatever the batch around it.
 */
public final class PerImageNoise implements NoiseGenerator {
    private final List<NoiseGenerator> images;

    /** Image i's noise from {@code images.get(i)}. */
    public PerImageNoise(List<? extends NoiseGenerator> images) {
        if (images.isEmpty()) throw new IllegalArgumentException("no generators");
        this.images = List.copyOf(images);
    }

    /** The number of images, the batch size every draw must have. */
    public int size() { return images.size(); }

    @Override
    public Tensor randn(long... shape) {
        if (shape.length == 0 || shape[0] != images.size()) {
            throw new IllegalArgumentException("a draw of shape " + java.util.Arrays.toString(shape) + " for " + images.size()
                    + " per-image generators: its first dimension must be the batch");
        }
        long[] one = shape.clone();
        one[0] = 1;
        long per = Tensor.numel(one);
        Tensor out = Tensor.zeros(shape);                                    // [B, …]
        MemorySegment dst = out.segment();
        for (int i = 0; i < images.size(); i++) {
            Tensor t = images.get(i).randn(one).contiguous();                // [1, …]
            MemorySegment.copy(t.segment(), 0, dst, i * per * 4, per * 4);
        }
        return out;
    }
}
