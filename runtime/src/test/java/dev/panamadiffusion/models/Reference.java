package dev.panamadiffusion.models;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The reference tensors of {@code shared/reference} (system property {@code pd.reference}) and error measures. */
public final class Reference {
    private Reference() {}

    /** {@code shared/reference/tiny}; fails (never skips) when the reference data is missing. */
    public static Path tiny() {
        String dir = System.getProperty("pd.reference");
        if (dir == null) fail("system property pd.reference is not set (surefire sets it to ../shared/reference)");
        Path p = Path.of(dir, "tiny");
        if (!Files.isDirectory(p)) fail("reference data missing: " + p);
        return p;
    }

    public static Map<String, Tensor> read(String file) { return SafeTensors.readAll(tiny().resolve(file)); }

    /** max |actual - expected| and that divided by max |expected|. */
    public record Error(double maxAbs, double rel) {
        @Override public String toString() { return String.format("max abs %.3e, rel %.3e", maxAbs, rel); }
    }

    public static Error error(Tensor expected, Tensor actual) {
        assertArrayEquals(expected.shape(), actual.shape(), "shape of " + actual + " vs " + expected);
        float[] e = expected.toFloatArray(), a = actual.toFloatArray();
        double maxAbs = 0, scale = 0;
        for (int i = 0; i < e.length; i++) {
            if (!Float.isFinite(a[i])) return new Error(Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY);
            maxAbs = Math.max(maxAbs, Math.abs((double) a[i] - e[i]));
            scale = Math.max(scale, Math.abs(e[i]));
        }
        return new Error(maxAbs, maxAbs / scale);
    }

    /** Asserts relative error ≤ {@code tol} and prints the measured errors under {@code name}. */
    public static Error assertClose(String name, Tensor expected, Tensor actual, double tol) {
        Error err = error(expected, actual);
        System.out.println("[parity] " + name + ": " + err);
        assertTrue(err.rel() <= tol, name + ": " + err + " exceeds " + tol);
        return err;
    }
}
