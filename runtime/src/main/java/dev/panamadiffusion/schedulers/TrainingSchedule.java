package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.tensor.Tensor;

/**
 * The training noise schedule shared by all schedulers: betas and the cumulative products of alphas, computed in
 * float32 the way diffusers computes them with torch (so that they equal diffusers' {@code alphas_cumprod} to the last
 * bit or two).
 */
public final class TrainingSchedule {
    private final float[] betas;
    private final float[] alphasCumprod;

    private TrainingSchedule(float[] betas) {
        this.betas = betas;
        this.alphasCumprod = cumprodOneMinus(betas);
    }

    /**
     * The schedule {@code config} describes: {@code trained_betas} if given, else {@code beta_schedule} from
     * {@code beta_start} to {@code beta_end} over {@code num_train_timesteps}, rescaled to zero terminal SNR if
     * {@code rescale_betas_zero_snr} (a missing key counts as false).
     */
    public static TrainingSchedule of(SchedulerConfig config) {
        int n = SchedulerConfig.required(config.numTrainTimesteps(), "num_train_timesteps");
        float[] betas;
        if (config.trainedBetas() != null) {
            betas = new float[config.trainedBetas().length];
            for (int i = 0; i < betas.length; i++) betas[i] = (float) config.trainedBetas()[i];
        } else {
            String schedule = SchedulerConfig.required(config.betaSchedule(), "beta_schedule");
            double start = SchedulerConfig.required(config.betaStart(), "beta_start");
            double end = SchedulerConfig.required(config.betaEnd(), "beta_end");
            betas = switch (schedule) {
                case "linear" -> torchLinspace((float) start, (float) end, n);
                case "scaled_linear" -> {
                    float[] roots = torchLinspace((float) Math.sqrt(start), (float) Math.sqrt(end), n);
                    for (int i = 0; i < n; i++) roots[i] = roots[i] * roots[i];
                    yield roots;
                }
                case "squaredcos_cap_v2" -> betasForAlphaBar(n, 0.999);
                default -> throw new IllegalArgumentException("beta_schedule '" + schedule
                        + "' is not supported (linear, scaled_linear, squaredcos_cap_v2)");
            };
        }
        if (Boolean.TRUE.equals(config.rescaleBetasZeroSnr())) betas = rescaleZeroTerminalSnr(betas);
        return new TrainingSchedule(betas);
    }

    public int numTrainTimesteps() { return betas.length; }

    public float[] betas() { return betas.clone(); }

    /** alphas_cumprod[t] = prod over s ≤ t of (1 - beta[s]). */
    public float[] alphasCumprod() { return alphasCumprod.clone(); }

    /**
     * alphas_cumprod[t]; a negative t counts from the end as in torch (diffusers' trailing spacing yields t = -1 for a
     * few step counts, e.g. 61, and then reads the last entry).
     */
    float alphaCumprod(int t) { return alphasCumprod[t < 0 ? t + alphasCumprod.length : t]; }

    /**
     * diffusers' DDPM-type {@code add_noise} at integer timestep {@code t}: {@code ᾱ_t ** 0.5 · x + (1 − ᾱ_t) ** 0.5 ·
     * noise} in float32 (torch computes {@code ** 0.5} as a correctly rounded square root).
     */
    Tensor addNoise(Tensor original, Tensor noise, int t) {
        float alphaProd = alphaCumprod(t);
        return Latents.addNoise(original, (float) Math.sqrt(alphaProd), noise, (float) Math.sqrt(1f - alphaProd));
    }

    /**
     * alphas_cumprod with the last one set to 2^-24 when betas were rescaled to zero terminal SNR (as diffusers' Euler
     * and DPM-Solver schedulers do, so that the last sigma stays finite).
     */
    float[] alphasCumprodForSigmas(SchedulerConfig config) {
        float[] ac = alphasCumprod();
        if (Boolean.TRUE.equals(config.rescaleBetasZeroSnr())) ac[ac.length - 1] = 0x1p-24f;
        return ac;
    }

    /**
     * {@code torch.linspace(start, end, steps)} in float32 on the CPU: step = (end - start) / (steps - 1); the first
     * half counts up from start, the second half down from end.
     */
    static float[] torchLinspace(float start, float end, int steps) {
        float[] out = new float[steps];
        if (steps == 1) {
            out[0] = start;
            return out;
        }
        float step = (end - start) / (steps - 1);
        int halfway = steps / 2;
        for (int i = 0; i < steps; i++) {
            out[i] = i < halfway ? start + step * i : end - step * (steps - i - 1);
        }
        return out;
    }

    /** torch.cumprod(1 - betas): float32 alphas, accumulated in double (torch's CPU accumulate type), stored as float. */
    private static float[] cumprodOneMinus(float[] betas) {
        float[] out = new float[betas.length];
        double acc = 1.0;
        for (int i = 0; i < betas.length; i++) {
            acc *= 1f - betas[i];
            out[i] = (float) acc;
        }
        return out;
    }

    /** diffusers' betas_for_alpha_bar with the cosine ("squaredcos_cap_v2") alpha_bar, in double, stored as float. */
    private static float[] betasForAlphaBar(int n, double maxBeta) {
        float[] betas = new float[n];
        for (int i = 0; i < n; i++) {
            double t1 = (double) i / n;
            double t2 = (double) (i + 1) / n;
            betas[i] = (float) Math.min(1 - alphaBarCosine(t2) / alphaBarCosine(t1), maxBeta);
        }
        return betas;
    }

    private static double alphaBarCosine(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    /** Rescales betas to zero terminal SNR (Lin et al. 2023, arXiv:2305.08891, algorithm 1), in float32. */
    static float[] rescaleZeroTerminalSnr(float[] betas) {
        int n = betas.length;
        float[] cumprod = cumprodOneMinus(betas);
        float[] sqrtBar = new float[n];
        for (int i = 0; i < n; i++) sqrtBar[i] = (float) Math.sqrt(cumprod[i]);
        float first = sqrtBar[0];
        float last = sqrtBar[n - 1];
        float scale = first / (first - last);
        float[] bar = new float[n];
        for (int i = 0; i < n; i++) {
            float s = (sqrtBar[i] - last) * scale;
            bar[i] = s * s;
        }
        float[] out = new float[n];
        out[0] = 1f - bar[0];
        for (int i = 1; i < n; i++) out[i] = 1f - bar[i] / bar[i - 1];
        return out;
    }
}
