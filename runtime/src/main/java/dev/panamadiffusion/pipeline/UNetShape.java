package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.tensor.Tensor;

/**
 * The shape of one UNet evaluation, what a recorded graph is specific to: batch rows, latent channels and size, and
 * the text context's length and width. Two steps of one generation have the same shape; guidance on and off, another
 * image size or another context length each give another.
 */
public record UNetShape(int rows, int channels, int height, int width, int contextLength, int contextDim) {
    public UNetShape {
        if (rows < 1 || channels < 1 || height < 1 || width < 1 || contextLength < 1 || contextDim < 1) {
            throw new IllegalArgumentException("UNet shape needs positive sizes: " + rows + " rows, " + channels
                    + " channels, " + height + "x" + width + ", context " + contextLength + "x" + contextDim);
        }
    }

    /**
     * The shape of {@code sample} [B, C, h, w] at {@code timesteps} (B of them) against {@code context} [B, L, D];
     * inputs that do not fit together are an {@link IllegalArgumentException} naming them.
     */
    public static UNetShape of(Tensor sample, double[] timesteps, Tensor context) {
        if (sample.rank() != 4) throw new IllegalArgumentException("UNet sample must be [B, C, h, w], got " + sample);
        if (context.rank() != 3) throw new IllegalArgumentException("UNet context must be [B, L, D], got " + context);
        long b = sample.dim(0);
        if (context.dim(0) != b) {
            throw new IllegalArgumentException("UNet context " + context + " has " + context.dim(0) + " rows for a sample of "
                    + b + ": " + sample);
        }
        if (timesteps.length != b) {
            throw new IllegalArgumentException("UNet: " + timesteps.length + " timesteps for a batch of " + b);
        }
        return new UNetShape(Math.toIntExact(b), Math.toIntExact(sample.dim(1)), Math.toIntExact(sample.dim(2)),
                Math.toIntExact(sample.dim(3)), Math.toIntExact(context.dim(1)), Math.toIntExact(context.dim(2)));
    }

    @Override
    public String toString() {
        return "[" + rows + ", " + channels + ", " + height + ", " + width + "] x context [" + rows + ", " + contextLength
                + ", " + contextDim + "]";
    }
}
