package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.tensor.Tensor;

/**
 * diffusers' {@code Timesteps}: the sinusoidal timestep embedding of DDPM, computed on the host in f32 the way
 * {@code get_timestep_embedding} does: frequency i = exp(−ln(10000)·i / (half − downscale_freq_shift)), then
 * [sin(t·f), cos(t·f)], swapped to [cos, sin] when {@code flip_sin_to_cos}; an odd width is padded with one zero.
 */
public final class Timesteps {
    private static final double MAX_PERIOD = 10000;

    private final int numChannels;
    private final boolean flipSinToCos;
    private final double downscaleFreqShift;

    public Timesteps(int numChannels, boolean flipSinToCos, double downscaleFreqShift) {
        if (numChannels < 2) throw new IllegalArgumentException("timestep embedding width " + numChannels);
        this.numChannels = numChannels;
        this.flipSinToCos = flipSinToCos;
        this.downscaleFreqShift = downscaleFreqShift;
    }

    /** One row per timestep: host f32 [timesteps.length, numChannels]. */
    public Tensor embed(double[] timesteps) {
        int half = numChannels / 2;
        float[] freqs = new float[half];
        float negLogPeriod = (float) -Math.log(MAX_PERIOD);
        float denom = (float) (half - downscaleFreqShift);
        for (int i = 0; i < half; i++) {
            float exponent = negLogPeriod * i / denom; // f32, as torch computes it
            freqs[i] = (float) Math.exp(exponent);
        }
        float[] out = new float[timesteps.length * numChannels];
        for (int b = 0; b < timesteps.length; b++) {
            float t = (float) timesteps[b];
            int row = b * numChannels;
            int sinAt = flipSinToCos ? half : 0;
            int cosAt = flipSinToCos ? 0 : half;
            for (int i = 0; i < half; i++) {
                float arg = t * freqs[i];
                out[row + sinAt + i] = (float) Math.sin(arg);
                out[row + cosAt + i] = (float) Math.cos(arg);
            }
        }
        return Tensor.fromFloats(out, timesteps.length, numChannels);
    }
}
