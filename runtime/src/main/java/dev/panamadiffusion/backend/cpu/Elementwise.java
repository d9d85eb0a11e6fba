package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.function.UnaryOperator;

/** Elementwise activations and arithmetic over contiguous f32 segments, vectorised with masked tails. */
final class Elementwise {
    private Elementwise() {}

    private static final VectorSpecies<Float> S = Microkernel.S;
    private static final int VL = S.length();
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    static final long GRAIN = 1 << 15;

    static FloatVector silu(FloatVector x) {
        return x.div(x.neg().lanewise(VectorOperators.EXP).add(1f));
    }

    static FloatVector quickGelu(FloatVector x) {
        return x.div(x.mul(-1.702f).lanewise(VectorOperators.EXP).add(1f));
    }

    /** 0.5 x (1 + erf(x / sqrt 2)). */
    static FloatVector gelu(FloatVector x) {
        return x.mul(0.5f).mul(erf(x.mul((float) (1 / Math.sqrt(2)))).add(1f));
    }

    /**
     * erf by Abramowitz and Stegun 7.1.26 refined: |error| below 2e-7, computed as
     * sign(x) (1 - poly(t) exp(-x^2)), t = 1 / (1 + p |x|).
     */
    static FloatVector erf(FloatVector x) {
        FloatVector ax = x.abs();
        FloatVector t = ax.mul(0.3275911f).add(1f);
        t = FloatVector.broadcast(S, 1f).div(t);
        FloatVector poly = t.mul(1.061405429f).add(-1.453152027f);
        poly = poly.mul(t).add(1.421413741f);
        poly = poly.mul(t).add(-0.284496736f);
        poly = poly.mul(t).add(0.254829592f);
        poly = poly.mul(t);
        FloatVector e = ax.mul(ax).neg().lanewise(VectorOperators.EXP);
        FloatVector y = FloatVector.broadcast(S, 1f).sub(poly.mul(e));
        return y.blend(y.neg(), x.compare(VectorOperators.LT, 0f));
    }

    /** out = f(x) over n elements. */
    static void map(Parallel par, MemorySegment x, MemorySegment out, long n, UnaryOperator<FloatVector> f) {
        par.forRange(n, GRAIN, (s, e) -> {
            for (long i = s; i < e; i += VL) {
                VectorMask<Float> m = S.indexInRange(i, e);
                f.apply(FloatVector.fromMemorySegment(S, x, i * 4, NO, m)).intoMemorySegment(out, i * 4, NO, m);
            }
        });
    }

    static void add(Parallel par, MemorySegment a, MemorySegment b, MemorySegment out, long n) {
        par.forRange(n, GRAIN, (s, e) -> {
            for (long i = s; i < e; i += VL) {
                VectorMask<Float> m = S.indexInRange(i, e);
                FloatVector.fromMemorySegment(S, a, i * 4, NO, m).add(FloatVector.fromMemorySegment(S, b, i * 4, NO, m))
                        .intoMemorySegment(out, i * 4, NO, m);
            }
        });
    }

    static void scale(Parallel par, MemorySegment x, MemorySegment out, long n, float s0) {
        map(par, x, out, n, v -> v.mul(s0));
    }

    /** x [rows, plane] + v[row] for each row (rows = N*C). */
    static void addPerRow(Parallel par, MemorySegment x, float[] v, MemorySegment out, int rows, long plane) {
        par.forEach(rows, r -> {
            long base = r * plane;
            FloatVector add = FloatVector.broadcast(S, v[r]);
            for (long i = 0; i < plane; i += VL) {
                VectorMask<Float> m = S.indexInRange(i, plane);
                long off = (base + i) * 4;
                FloatVector.fromMemorySegment(S, x, off, NO, m).add(add).intoMemorySegment(out, off, NO, m);
            }
        });
    }

    /** x [rows, 2F] → out [rows, F] = x[:, :F] * gelu(x[:, F:]). */
    static void geglu(Parallel par, MemorySegment x, MemorySegment out, long rows, int f) {
        par.forRange(rows, Math.max(1, GRAIN / Math.max(1, f)), (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long in = r * 2 * f;
                long o = r * f;
                for (int i = 0; i < f; i += VL) {
                    VectorMask<Float> m = S.indexInRange(i, f);
                    FloatVector hidden = FloatVector.fromMemorySegment(S, x, (in + i) * 4, NO, m);
                    FloatVector gate = FloatVector.fromMemorySegment(S, x, (in + f + i) * 4, NO, m);
                    hidden.mul(gelu(gate)).intoMemorySegment(out, (o + i) * 4, NO, m);
                }
            }
        });
    }
}
