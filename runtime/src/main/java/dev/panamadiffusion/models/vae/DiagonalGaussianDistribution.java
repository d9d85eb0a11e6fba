package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.util.Arrays;

/**
 * diffusers' {@code DiagonalGaussianDistribution}: the encoder's moments [B, 2C, h, w] split along channels into mean
 * and log-variance, the log-variance clamped to [-30, 20]. All tensors are host f32 (the schedulers' side).
 */
public final class DiagonalGaussianDistribution {
    private final Tensor mean;
    private final Tensor logvar;
    private final Tensor std;

    /** @param moments host tensor [B, 2C, h, w] */
    public DiagonalGaussianDistribution(Tensor moments) {
        if (moments.rank() != 4 || moments.dim(1) % 2 != 0) {
            throw new IllegalArgumentException("moments must be [B, 2C, h, w], got " + moments);
        }
        long c = moments.dim(1) / 2;
        this.mean = moments.slice(1, 0, c).to(DType.F32).contiguous();  // [B, C, h, w]
        float[] lv = moments.slice(1, c, 2 * c).toFloatArray();         // [B, C, h, w]
        float[] sd = new float[lv.length];
        for (int i = 0; i < lv.length; i++) {
            lv[i] = Math.clamp(lv[i], -30f, 20f);
            sd[i] = (float) Math.exp(0.5 * lv[i]);
        }
        long[] shape = mean.shape();
        this.logvar = Tensor.fromFloats(lv, shape);
        this.std = Tensor.fromFloats(sd, shape);
    }

    public Tensor mean() { return mean; }

    public Tensor logvar() { return logvar; }

    /** exp(0.5 · logvar). */
    public Tensor std() { return std; }

    /** mean + std · ε with ε drawn from {@code noise} in the mean's shape (diffusers' {@code sample(generator)}). */
    public Tensor sample(NoiseGenerator noise) {
        return sample(noise, Math.toIntExact(mean.dim(0)));
    }

    /**
     * {@code batch} samples, ε drawn in [batch, …]: one per row of the mean when {@code batch} is its batch; for one
     * image's distribution (mean [1, …]), {@code batch} samples of it, diffusers' list of generators, which encodes the
     * image once per generator and samples each with its own. Row i has the bits a batch of one gives from row i's ε.
     */
    public Tensor sample(NoiseGenerator noise, int batch) {
        long[] shape = mean.shape();
        if (shape[0] != 1 && shape[0] != batch) {
            throw new IllegalStateException(batch + " samples of a batch of " + shape[0] + " distributions");
        }
        shape[0] = batch;
        Tensor eps = noise.randn(shape);
        if (!Arrays.equals(eps.shape(), shape)) throw new IllegalStateException("noise " + eps + " for " + batch + " samples of " + mean);
        float[] m = mean.toFloatArray(), s = std.toFloatArray(), e = eps.toFloatArray();
        int per = m.length;
        for (int i = 0; i < e.length; i++) e[i] = m[i % per] + s[i % per] * e[i];
        return Tensor.fromFloats(e, shape);
    }
}
