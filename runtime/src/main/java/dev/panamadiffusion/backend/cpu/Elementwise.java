package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/** Elementwise activations and arithmetic over contiguous f32 segments, vectorised with masked tails. */
final class Elementwise {
    private Elementwise() {}

    private static final VectorSpecies<Float> S = Microkernel.S;
    private static final int VL = S.length();
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    static final long GRAIN = 1 << 15;

    static FloatVector silu(FloatVector x) {
        return x.div(VectorMath.exp(x.neg()).add(1f));
    }

    static FloatVector quickGelu(FloatVector x) {
        return x.div(VectorMath.exp(x.mul(-1.702f)).add(1f));
    }

    /** 0.5 x (1 + erf(x / sqrt 2)). */
    static FloatVector gelu(FloatVector x) {
        return x.mul(0.5f).mul(erf(x.mul((float) (1 / Math.sqrt(2)))).add(1f));
    }

    /**
     * erf as a rational function of x on [-4, 4] (outside, erf is ±1 in f32): x P(x²) / Q(x²), the minimax fit used
     * by Eigen and XLA; no exp, one division.
     */
    static FloatVector erf(FloatVector x) {
        x = x.blend(-4f, x.compare(VectorOperators.LT, -4f)).blend(4f, x.compare(VectorOperators.GT, 4f)); // max, min
        FloatVector x2 = x.mul(x);
        FloatVector p = x2.fma(-2.72614225801306e-10f, 2.77068142495902e-08f);
        p = p.fma(x2, bc(-2.10102402082508e-06f));
        p = p.fma(x2, bc(-5.69250639462346e-05f));
        p = p.fma(x2, bc(-7.34990630326855e-04f));
        p = p.fma(x2, bc(-2.95459980854025e-03f));
        p = p.fma(x2, bc(-1.60960333262415e-02f));
        p = p.mul(x);
        FloatVector q = x2.fma(-1.45660718464996e-05f, -2.13374055278905e-04f);
        q = q.fma(x2, bc(-1.68282697438203e-03f));
        q = q.fma(x2, bc(-7.37332916720468e-03f));
        q = q.fma(x2, bc(-1.42647390514189e-02f));
        return p.div(q);
    }

    private static FloatVector bc(float v) { return FloatVector.broadcast(S, v); }

    /** The unary maps. */
    enum Unary { SILU, GELU, QUICK_GELU, SCALE }

    /**
     * out = op(x) over n elements ({@code s}: the SCALE factor). One loop method per op: each is compiled on its own
     * with its few vector expansions inlined (one method holding them all exceeds C2's inlining budget, and then
     * every vector is boxed).
     */
    static void map(Parallel par, MemorySegment x, MemorySegment out, long n, Unary op, float s) {
        par.forRange(n, GRAIN, (start, end) -> {
            switch (op) {
                case SILU -> siluRange(x, out, start, end);
                case GELU -> geluRange(x, out, start, end);
                case QUICK_GELU -> quickGeluRange(x, out, start, end);
                case SCALE -> scaleRange(x, out, start, end, s);
            }
        });
    }

    private static void siluRange(MemorySegment x, MemorySegment out, long start, long end) {
        long i = start;
        for (; i + VL <= end; i += VL) silu(FloatVector.fromMemorySegment(S, x, i * 4, NO)).intoMemorySegment(out, i * 4, NO);
        if (i < end) {
            VectorMask<Float> m = S.indexInRange(i, end);
            silu(FloatVector.fromMemorySegment(S, x, i * 4, NO, m)).intoMemorySegment(out, i * 4, NO, m);
        }
    }

    private static void geluRange(MemorySegment x, MemorySegment out, long start, long end) {
        long i = start;
        for (; i + VL <= end; i += VL) gelu(FloatVector.fromMemorySegment(S, x, i * 4, NO)).intoMemorySegment(out, i * 4, NO);
        if (i < end) {
            VectorMask<Float> m = S.indexInRange(i, end);
            gelu(FloatVector.fromMemorySegment(S, x, i * 4, NO, m)).intoMemorySegment(out, i * 4, NO, m);
        }
    }

    private static void quickGeluRange(MemorySegment x, MemorySegment out, long start, long end) {
        long i = start;
        for (; i + VL <= end; i += VL) {
            quickGelu(FloatVector.fromMemorySegment(S, x, i * 4, NO)).intoMemorySegment(out, i * 4, NO);
        }
        if (i < end) {
            VectorMask<Float> m = S.indexInRange(i, end);
            quickGelu(FloatVector.fromMemorySegment(S, x, i * 4, NO, m)).intoMemorySegment(out, i * 4, NO, m);
        }
    }

    private static void scaleRange(MemorySegment x, MemorySegment out, long start, long end, float s) {
        long i = start;
        for (; i + VL <= end; i += VL) FloatVector.fromMemorySegment(S, x, i * 4, NO).mul(s).intoMemorySegment(out, i * 4, NO);
        if (i < end) {
            VectorMask<Float> m = S.indexInRange(i, end);
            FloatVector.fromMemorySegment(S, x, i * 4, NO, m).mul(s).intoMemorySegment(out, i * 4, NO, m);
        }
    }

    static void add(Parallel par, MemorySegment a, MemorySegment b, MemorySegment out, long n) {
        par.forRange(n, GRAIN, (start, end) -> {
            long i = start;
            for (; i + VL <= end; i += VL) {
                FloatVector.fromMemorySegment(S, a, i * 4, NO).add(FloatVector.fromMemorySegment(S, b, i * 4, NO))
                        .intoMemorySegment(out, i * 4, NO);
            }
            if (i < end) {
                VectorMask<Float> m = S.indexInRange(i, end);
                FloatVector.fromMemorySegment(S, a, i * 4, NO, m).add(FloatVector.fromMemorySegment(S, b, i * 4, NO, m))
                        .intoMemorySegment(out, i * 4, NO, m);
            }
        });
    }

    /** x [rows, plane] + v[row] for each row (rows = N*C). */
    static void addPerRow(Parallel par, MemorySegment x, float[] v, MemorySegment out, int rows, long plane) {
        par.forEach(rows, r -> {
            long base = r * plane;
            long end = base + plane;
            FloatVector add = FloatVector.broadcast(S, v[r]);
            long i = base;
            for (; i + VL <= end; i += VL) {
                FloatVector.fromMemorySegment(S, x, i * 4, NO).add(add).intoMemorySegment(out, i * 4, NO);
            }
            if (i < end) {
                VectorMask<Float> m = S.indexInRange(i, end);
                FloatVector.fromMemorySegment(S, x, i * 4, NO, m).add(add).intoMemorySegment(out, i * 4, NO, m);
            }
        });
    }

    /** x [rows, 2F] → out [rows, F] = x[:, :F] * gelu(x[:, F:]). */
    static void geglu(Parallel par, MemorySegment x, MemorySegment out, long rows, int f) {
        par.forRange(rows, Math.max(1, GRAIN / Math.max(1, f)), (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long in = r * 2 * f;
                long o = r * f;
                int i = 0;
                for (; i + VL <= f; i += VL) {
                    FloatVector hidden = FloatVector.fromMemorySegment(S, x, (in + i) * 4, NO);
                    FloatVector gate = FloatVector.fromMemorySegment(S, x, (in + f + i) * 4, NO);
                    hidden.mul(gelu(gate)).intoMemorySegment(out, (o + i) * 4, NO);
                }
                if (i < f) {
                    VectorMask<Float> m = S.indexInRange(i, f);
                    FloatVector hidden = FloatVector.fromMemorySegment(S, x, (in + i) * 4, NO, m);
                    FloatVector gate = FloatVector.fromMemorySegment(S, x, (in + f + i) * 4, NO, m);
                    hidden.mul(gelu(gate)).intoMemorySegment(out, (o + i) * 4, NO, m);
                }
            }
        });
    }
}
