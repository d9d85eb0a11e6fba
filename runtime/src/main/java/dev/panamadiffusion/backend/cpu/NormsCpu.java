package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/** GroupNorm (optionally fused with SiLU) and LayerNorm; statistics in two passes, accumulated per row in double. */
final class NormsCpu {
    private NormsCpu() {}

    private static final VectorSpecies<Float> S = Microkernel.S;
    private static final int VL = S.length();
    private static final ByteOrder NO = ByteOrder.nativeOrder();

    /** x [N, C, spatial] contiguous; gamma, beta [C]. */
    static void groupNorm(Parallel par, MemorySegment x, MemorySegment out, int n, int c, long spatial, int groups,
                          float[] gamma, float[] beta, float eps, boolean silu) {
        final int cpg = c / groups;
        par.forEach(n * groups, ng -> {
            int g = ng % groups;
            long base = (long) ng * cpg * spatial;
            double sum = 0;
            for (int ch = 0; ch < cpg; ch++) sum += sum(x, base + ch * spatial, spatial);
            long count = cpg * spatial;
            float mean = (float) (sum / count);
            double sq = 0;
            for (int ch = 0; ch < cpg; ch++) sq += sumSquaredDeviation(x, base + ch * spatial, spatial, mean);
            float rstd = (float) (1.0 / Math.sqrt(sq / count + eps));
            for (int ch = 0; ch < cpg; ch++) {
                int cc = g * cpg + ch;
                float a = rstd * gamma[cc];
                float b = beta[cc] - mean * a;
                affine(x, out, base + ch * spatial, spatial, a, b, silu);
            }
        });
    }

    /** x [rows, d] contiguous; gamma, beta [d]. */
    static void layerNorm(Parallel par, MemorySegment x, MemorySegment out, long rows, int d, float[] gamma, float[] beta,
                          float eps) {
        par.forRange(rows, Math.max(1, 16384 / Math.max(1, d)), (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long base = r * d;
                float mean = (float) (sum(x, base, d) / d);
                float rstd = (float) (1.0 / Math.sqrt(sumSquaredDeviation(x, base, d, mean) / d + eps));
                FloatVector m = FloatVector.broadcast(S, mean);
                FloatVector rs = FloatVector.broadcast(S, rstd);
                for (int i = 0; i < d; i += VL) {
                    VectorMask<Float> mask = S.indexInRange(i, d);
                    long off = (base + i) * 4;
                    FloatVector v = FloatVector.fromMemorySegment(S, x, off, NO, mask);
                    FloatVector gv = FloatVector.fromArray(S, gamma, i, mask);
                    FloatVector bv = FloatVector.fromArray(S, beta, i, mask);
                    v.sub(m).mul(rs).fma(gv, bv).intoMemorySegment(out, off, NO, mask);
                }
            }
        });
    }

    private static double sum(MemorySegment x, long start, long len) {
        FloatVector acc = FloatVector.zero(S);
        long i = 0;
        long body = len - len % VL;
        for (; i < body; i += VL) acc = acc.add(FloatVector.fromMemorySegment(S, x, (start + i) * 4, NO));
        double s = VectorMath.sum(acc);
        for (; i < len; i++) s += x.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, start + i);
        return s;
    }

    private static double sumSquaredDeviation(MemorySegment x, long start, long len, float mean) {
        FloatVector acc = FloatVector.zero(S);
        FloatVector m = FloatVector.broadcast(S, mean);
        long i = 0;
        long body = len - len % VL;
        for (; i < body; i += VL) {
            FloatVector dv = FloatVector.fromMemorySegment(S, x, (start + i) * 4, NO).sub(m);
            acc = dv.fma(dv, acc);
        }
        double s = VectorMath.sum(acc);
        for (; i < len; i++) {
            double dv = x.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, start + i) - mean;
            s += dv * dv;
        }
        return s;
    }

    private static void affine(MemorySegment x, MemorySegment out, long start, long len, float a, float b, boolean silu) {
        if (silu) affineSilu(x, out, start, len, a, b);
        else affine(x, out, start, len, a, b);
    }

    /** out = a x + b over [start, start + len): full vectors unmasked, the tail masked. */
    private static void affine(MemorySegment x, MemorySegment out, long start, long len, float a, float b) {
        FloatVector av = FloatVector.broadcast(S, a);
        FloatVector bv = FloatVector.broadcast(S, b);
        long body = len - len % VL, i = 0;
        for (; i < body; i += VL) {
            long off = (start + i) * 4;
            FloatVector.fromMemorySegment(S, x, off, NO).fma(av, bv).intoMemorySegment(out, off, NO);
        }
        if (i < len) {
            VectorMask<Float> mask = S.indexInRange(i, len);
            long off = (start + i) * 4;
            FloatVector.fromMemorySegment(S, x, off, NO, mask).fma(av, bv).intoMemorySegment(out, off, NO, mask);
        }
    }

    /** out = silu(a x + b): a method of its own, so that C2 compiles the exponential's loop without the plain one's. */
    private static void affineSilu(MemorySegment x, MemorySegment out, long start, long len, float a, float b) {
        FloatVector av = FloatVector.broadcast(S, a);
        FloatVector bv = FloatVector.broadcast(S, b);
        long body = len - len % VL, i = 0;
        for (; i < body; i += VL) {
            long off = (start + i) * 4;
            Elementwise.silu(FloatVector.fromMemorySegment(S, x, off, NO).fma(av, bv)).intoMemorySegment(out, off, NO);
        }
        if (i < len) {
            VectorMask<Float> mask = S.indexInRange(i, len);
            long off = (start + i) * 4;
            Elementwise.silu(FloatVector.fromMemorySegment(S, x, off, NO, mask).fma(av, bv)).intoMemorySegment(out, off, NO, mask);
        }
    }
}
