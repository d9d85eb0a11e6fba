package dev.panamadiffusion.verify;

import java.util.Locale;

/**
 * One verified quantity: its largest absolute error, that error relative to the reference's largest magnitude, the
 * absolute error allowed, and whether it passed. {@code detail} says what was compared or why it failed (may be empty).
 */
public record CheckResult(String name, double maxAbsErr, double maxRelErr, double tolerance, boolean passed, String detail) {

    /** A check that could not produce a result (a missing tensor, a model that failed to load): a FAIL. */
    public static CheckResult error(String name, String why) {
        return new CheckResult(name, Double.NaN, Double.NaN, Double.NaN, false, why);
    }

    /** {@code name  max_abs=…  max_rel=…  tol=…  PASS|FAIL  [detail]}. */
    public String line() {
        String s = String.format(Locale.ROOT, "%-52s max_abs=%-10s max_rel=%-10s tol=%-10s %s",
                name, num(maxAbsErr), num(maxRelErr), num(tolerance), passed ? "PASS" : "FAIL");
        return detail == null || detail.isEmpty() ? s : s + "  " + detail;
    }

    private static String num(double v) {
        if (Double.isNaN(v)) return "-";
        if (v == 0) return "0";
        return String.format(Locale.ROOT, "%.2e", v);
    }
}
