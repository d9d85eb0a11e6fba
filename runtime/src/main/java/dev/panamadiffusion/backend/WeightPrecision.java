package dev.panamadiffusion.backend;

import java.util.Locale;

/**
 * How the CPU backend stores the weights of its matrix products (linear and convolution weights; biases, norms and
 * embeddings stay f32), as sd.cpp's {@code --type}: the weights are converted once when packed and widened back to f32
 * a panel at a time by the matrix products, so activations and sums stay f32. Less memory for some accuracy; the cost
 * in quality, time and memory is measured in bench/RESULTS.md ("CPU weight precision").
 */
public enum WeightPrecision {
    /** As computed: 4 bytes a weight. */
    F32,
    /** bfloat16, rounded to nearest even: 2 bytes a weight, 8 significant bits (relative error at most 2^-8). */
    BF16,
    /**
     * Signed bytes with one f32 scale per output channel per group of 32 inputs (as sd.cpp's q8_0): 1.125 bytes a
     * weight, absolute error at most max|w| / 254 of the weight's group.
     */
    INT8;

    /** System property holding the CPU backend's default ({@code f32} when unset). */
    public static final String PROPERTY = "pd.cpu.weights";

    /** The lower-case name users write: f32, bf16 or int8. */
    public String label() { return name().toLowerCase(Locale.ROOT); }

    /** The precision called {@code name} (f32, bf16 or int8, any case); an IllegalArgumentException names the choices. */
    public static WeightPrecision parse(String name) {
        if (name != null) {
            for (WeightPrecision p : values()) if (p.label().equalsIgnoreCase(name.trim())) return p;
        }
        throw new IllegalArgumentException("unknown weight precision '" + name + "' (use f32, bf16 or int8)");
    }

    /** {@code -Dpd.cpu.weights}, or {@link #F32} when unset. */
    public static WeightPrecision fromProperty() {
        String v = System.getProperty(PROPERTY);
        return v == null || v.isBlank() ? F32 : parse(v);
    }
}
