package dev.panamadiffusion.verify;

import dev.panamadiffusion.tensor.Tensor;

import java.util.Arrays;

/** Element-wise comparison of a computed host tensor with its reference. */
public final class Compare {
    private Compare() {}

    /** The errors of {@code actual} against {@code expected} (same shape required), judged by {@code tol}. */
    public static CheckResult tensors(String name, Tensor actual, Tensor expected, Tolerance tol) {
        if (!Arrays.equals(actual.shape(), expected.shape())) {
            return CheckResult.error(name, "shape " + Arrays.toString(actual.shape()) + ", reference has "
                    + Arrays.toString(expected.shape()));
        }
        return arrays(name, toDoubles(actual), toDoubles(expected), tol);
    }

    /** The errors of {@code actual} against {@code expected} (same length required), judged by {@code tol}. */
    public static CheckResult arrays(String name, double[] actual, double[] expected, Tolerance tol) {
        if (actual.length != expected.length) {
            return CheckResult.error(name, actual.length + " values, reference has " + expected.length);
        }
        double maxAbs = 0, maxRef = 0;
        int worst = -1;
        boolean nonFinite = false;
        for (int i = 0; i < actual.length; i++) {
            double a = actual[i], e = expected[i];
            maxRef = Math.max(maxRef, Math.abs(e));
            if (!Double.isFinite(a) && Double.isFinite(e)) nonFinite = true;
            double err = a == e ? 0 : Math.abs(a - e); // equal infinities compare as 0
            if (Double.isNaN(err)) err = Double.POSITIVE_INFINITY;
            if (err > maxAbs) {
                maxAbs = err;
                worst = i;
            }
        }
        double bound = tol.bound(maxRef);
        double rel = maxRef == 0 ? (maxAbs == 0 ? 0 : Double.POSITIVE_INFINITY) : maxAbs / maxRef;
        boolean pass = !nonFinite && maxAbs <= bound;
        String detail = pass || worst < 0 ? "" : "worst at [" + worst + "]: " + actual[worst] + " vs " + expected[worst]
                + (nonFinite ? " (non-finite output)" : "");
        return new CheckResult(name, maxAbs, rel, bound, pass, detail);
    }

    /** Of several results for one check, the one closest to (or furthest beyond) its bound, renamed to {@code name}. */
    public static CheckResult worst(String name, CheckResult... parts) {
        CheckResult worst = null;
        double worstRatio = -1;
        for (CheckResult r : parts) {
            if (!r.passed() && Double.isNaN(r.maxAbsErr())) return new CheckResult(name, r.maxAbsErr(), r.maxRelErr(),
                    r.tolerance(), false, r.name() + ": " + r.detail());
            double ratio = r.tolerance() == 0 ? (r.maxAbsErr() == 0 ? 0 : Double.POSITIVE_INFINITY) : r.maxAbsErr() / r.tolerance();
            if (!r.passed()) ratio = Double.POSITIVE_INFINITY;
            if (ratio > worstRatio) {
                worstRatio = ratio;
                worst = r;
            }
        }
        if (worst == null) throw new IllegalArgumentException("no results to combine for " + name);
        String detail = "worst: " + worst.name() + (worst.detail().isEmpty() ? "" : " " + worst.detail());
        boolean all = true;
        for (CheckResult r : parts) all &= r.passed();
        return new CheckResult(name, worst.maxAbsErr(), worst.maxRelErr(), worst.tolerance(), all, detail);
    }

    static double[] toDoubles(Tensor t) {
        double[] out = new double[Math.toIntExact(t.numel())];
        for (int i = 0; i < out.length; i++) out[i] = t.getDouble(i);
        return out;
    }
}
