package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.rng.JavaNoiseGenerator;
import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.rng.TorchCpuGenerator;

import java.util.Locale;

/** Which noise generator draws the initial latents (and ancestral noise) from the seed. */
public enum RngKind {
    /** {@code TorchCpuGenerator}: the same numbers as {@code torch.randn} on a CPU generator, so seeds match diffusers. */
    TORCH,
    /** {@code JavaNoiseGenerator}: this runtime's own generator; fast, but its images differ from other tools'. */
    JAVA;

    /** "torch" or "java" (case-insensitive); anything else is an {@link IllegalArgumentException}. */
    public static RngKind parse(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "torch" -> TORCH;
            case "java" -> JAVA;
            default -> throw new IllegalArgumentException("unknown rng '" + name + "' (use torch or java)");
        };
    }

    /** A generator of this kind seeded with {@code seed}: what the pipeline draws a request's noise from. */
    public NoiseGenerator generator(long seed) {
        return this == TORCH ? new TorchCpuGenerator(seed) : new JavaNoiseGenerator(seed);
    }

    public String cliName() { return name().toLowerCase(Locale.ROOT); }
}
