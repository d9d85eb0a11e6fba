package dev.panamadiffusion.verify;

import java.util.Locale;

/**
 * The tolerance of each kind of check. {@link #forBackend} picks the profile: the CPU backend computes in f32 like the
 * reference, other backends (CUDA computes in f16) get f16-sized bounds. {@link #scaled} loosens or tightens all.
 *
 * @param rng      noise generators against torch.randn
 * @param model    single forward passes (text encoder, UNet, VAE)
 * @param schedule scheduler timesteps and init_noise_sigma
 * @param loop     every intermediate of a replayed sampling loop (errors accumulate over steps)
 */
public record Tolerances(Tolerance rng, Tolerance model, Tolerance schedule, Tolerance loop) {

    public static Tolerances f32() {
        return new Tolerances(new Tolerance(1e-6, 2e-6), new Tolerance(1e-5, 1e-4), new Tolerance(1e-4, 1e-5),
                new Tolerance(1e-5, 2e-4));
    }

    public static Tolerances f16() {
        return new Tolerances(new Tolerance(1e-6, 2e-6), new Tolerance(1e-3, 2e-2), new Tolerance(1e-4, 1e-5),
                new Tolerance(2e-3, 5e-2));
    }

    /** {@link #f32()} for the CPU backend, {@link #f16()} for every other. */
    public static Tolerances forBackend(String backendName) {
        return backendName.toLowerCase(Locale.ROOT).equals("cpu") ? f32() : f16();
    }

    /** Every tolerance but the noise generator's (which is exact arithmetic, not model precision) times {@code factor}. */
    public Tolerances scaled(double factor) {
        return new Tolerances(rng, model.scaled(factor), schedule.scaled(factor), loop.scaled(factor));
    }
}
