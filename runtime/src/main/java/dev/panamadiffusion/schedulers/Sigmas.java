package dev.panamadiffusion.schedulers;

/** Sigma-space helpers shared by the k-diffusion style schedulers (numpy semantics, as diffusers computes them). */
final class Sigmas {
    private static final double KARRAS_RHO = 7.0;

    private Sigmas() {}

    /** ((1 - ac) / ac) ** 0.5 per training timestep, ascending in t, in float32 as torch computes it. */
    static float[] fromAlphasCumprod(float[] alphasCumprod) {
        float[] s = new float[alphasCumprod.length];
        for (int i = 0; i < s.length; i++) {
            float ac = alphasCumprod[i];
            s[i] = (float) Math.sqrt((1f - ac) / ac);
        }
        return s;
    }

    /** {@code np.interp(x, np.arange(len(fp)), fp)} (clamped at both ends). */
    static double interp(double x, float[] fp) {
        int last = fp.length - 1;
        if (Double.isNaN(x)) return x;
        if (x <= 0) return fp[0];
        if (x >= last) return fp[last];
        int j = (int) Math.floor(x);
        if (j == x) return fp[j];
        double slope = ((double) fp[j + 1] - fp[j]) / 1.0;
        return slope * (x - j) + fp[j];
    }

    static double[] interp(double[] x, float[] fp) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = interp(x[i], fp);
        return y;
    }

    /** {@code np.log} of float32 sigmas, kept in float32 as numpy does. */
    static float[] logSigmas(float[] sigmas) {
        float[] out = new float[sigmas.length];
        for (int i = 0; i < out.length; i++) out[i] = (float) Math.log(sigmas[i]);
        return out;
    }

    /**
     * Karras et al. (2022) noise levels: n values from sigmaMax down to sigmaMin, evenly spaced in sigma^(1/7).
     */
    static double[] karras(double sigmaMin, double sigmaMax, int n) {
        double[] ramp = Spacing.linspace(0, 1, n);
        double minInvRho = Math.pow(sigmaMin, 1 / KARRAS_RHO);
        double maxInvRho = Math.pow(sigmaMax, 1 / KARRAS_RHO);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) out[i] = Math.pow(maxInvRho + ramp[i] * (minInvRho - maxInvRho), KARRAS_RHO);
        return out;
    }

    /**
     * The fractional training timestep of noise level {@code sigma}: linear interpolation in log sigma between the
     * two neighbouring training timesteps (diffusers' {@code _sigma_to_t}).
     */
    static double sigmaToT(double sigma, float[] logSigmas) {
        double logSigma = Math.log(Math.max(sigma, 1e-10));
        // low_idx = argmax(cumsum(dists >= 0)): the first index at which the count of non-negative distances peaks
        int count = 0;
        int best = -1;
        int lowIdx = 0;
        for (int i = 0; i < logSigmas.length; i++) {
            if (logSigma - logSigmas[i] >= 0) count++;
            if (count > best) {
                best = count;
                lowIdx = i;
            }
        }
        lowIdx = Math.min(lowIdx, logSigmas.length - 2);
        int highIdx = lowIdx + 1;
        double low = logSigmas[lowIdx];
        double high = logSigmas[highIdx];
        double w = (low - logSigma) / (low - high);
        w = Math.min(Math.max(w, 0), 1);
        return (1 - w) * lowIdx + w * highIdx;
    }
}
