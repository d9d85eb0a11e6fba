package dev.panamadiffusion.schedulers;

/** The denoised estimate shared by the sigma-space (k-diffusion style) schedulers, in float32 as diffusers computes it. */
final class KDiffusion {
    private KDiffusion() {}

    /**
     * x0 from the model output at noise level sigma, for the latents x in sigma space (x = x0 + sigma * noise):
     * epsilon: x - sigma * out; v-prediction: out * (-sigma / sqrt(sigma² + 1)) + x / (sigma² + 1); sample: out.
     */
    static float[] denoised(PredictionType type, float[] out, float[] x, float sigma) {
        float[] x0 = new float[x.length];
        switch (type) {
            case EPSILON -> {
                for (int i = 0; i < x.length; i++) x0[i] = x[i] - sigma * out[i];
            }
            case V_PREDICTION -> {
                float s2 = sigma * sigma + 1f;
                float c = -sigma / (float) Math.sqrt(s2);
                for (int i = 0; i < x.length; i++) x0[i] = out[i] * c + x[i] / s2;
            }
            case SAMPLE -> System.arraycopy(out, 0, x0, 0, x.length);
        }
        return x0;
    }
}
