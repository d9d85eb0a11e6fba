package dev.panamadiffusion.verify;

/**
 * How close a result must be to its reference: the largest absolute error may be at most
 * {@code atol + rtol · max|reference|}. Relative to the tensor's largest magnitude rather than element by element, so
 * elements that happen to be near zero do not demand impossible precision.
 */
public record Tolerance(double atol, double rtol) {
    /** Exact equality (token ids). */
    public static final Tolerance EXACT = new Tolerance(0, 0);

    public Tolerance {
        if (!(atol >= 0) || !(rtol >= 0)) throw new IllegalArgumentException("tolerance " + atol + ", " + rtol);
    }

    /** The largest absolute error allowed for a reference whose largest magnitude is {@code maxAbsReference}. */
    public double bound(double maxAbsReference) { return atol + rtol * maxAbsReference; }

    public Tolerance scaled(double factor) { return new Tolerance(atol * factor, rtol * factor); }
}
