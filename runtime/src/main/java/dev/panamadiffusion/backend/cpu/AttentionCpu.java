package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.panamadiffusion.backend.cpu.Microkernel.MR;
import static dev.panamadiffusion.backend.cpu.Microkernel.NR;
import static dev.panamadiffusion.backend.cpu.Microkernel.VL;

/**
 * Scaled dot-product attention in blocks of NR queries, computed transposed so that every step is a GEMM tile
 * and the softmax runs across vector lanes: per (batch, head), K and V^T are packed once as A panels; per query
 * block, S^T[Lk, NR] = K · Q^T, P^T = exp(scale (S^T - max)) column-wise, O^T[d, NR] = V^T · P^T, and the output
 * is O^T transposed divided by the column sums. Only an Lk x NR score block exists at a time.
 */
final class AttentionCpu {
    private AttentionCpu() {}

    private static final VectorSpecies<Float> S = Microkernel.S;
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** q [B, Lq, H*d], k and v [B, Lk, H*d] (contiguous, element offset 0) → out [B, Lq, H*d]. */
    static void attention(Parallel par, MemorySegment q, MemorySegment k, MemorySegment v, int batch, int lq, int lk,
                          int heads, int d, boolean causal, MemorySegment out) {
        final int hd = heads * d;
        final Packed[] kp = new Packed[batch * heads];
        final Packed[] vt = new Packed[batch * heads];
        par.forEach(batch * heads, bh -> {
            int b = bh / heads;
            int h = bh % heads;
            long base = (long) b * lk * hd + (long) h * d;
            kp[bh] = Packed.pack(k, base, hd, 1, lk, d, MR);   // K_h [Lk, d]
            vt[bh] = Packed.pack(v, base, 1, hd, d, lk, MR);   // V_h^T [d, Lk]
        });
        final int qBlocks = (lq + NR - 1) / NR;
        final float scale = (float) (1.0 / Math.sqrt(d));
        par.forEach(batch * heads * qBlocks, task -> {
            int bh = task / qBlocks;
            int q0 = (task % qBlocks) * NR;
            int nq = Math.min(NR, lq - q0);
            int b = bh / heads;
            int h = bh % heads;
            Packed kh = kp[bh];
            Packed vh = vt[bh];
            Scratch s = Scratch.get();
            // Q^T block as B panels over d: qt[kk*NR + j] = q[b, q0 + j, h*d + k0 + kk]
            float[] qt = s.b(d * NR);
            java.util.Arrays.fill(qt, 0, d * NR, 0f);
            for (int j = 0; j < nq; j++) {
                long src = ((long) b * lq + q0 + j) * hd + (long) h * d;
                for (int kk = 0; kk < d; kk++) qt[kk * NR + j] = q.getAtIndex(F, src + kk);
            }
            MemorySegment st = s.seg1((long) kh.nPad() * NR); // S^T [Lk, NR]
            for (int p = 0; p < kh.panels(); p++) {
                for (int kb = 0; kb < kh.blocks(); kb++) {
                    Microkernel.tile(kh.data(), kh.offset(kb, p), qt, kb * kh.kc() * NR, kh.kcOf(kb), st,
                            (long) p * MR * NR, NR, MR, NR, kb > 0, null, 0, null, 0);
                }
            }
            float[] pt = s.c(lk * NR); // P^T [Lk, NR], unnormalised
            float[] sums = new float[NR];
            softmaxColumns(st, pt, lk, q0, causal, scale, sums);
            MemorySegment ot = s.seg2((long) vh.nPad() * NR); // O^T [d, NR]
            for (int p = 0; p < vh.panels(); p++) {
                for (int kb = 0; kb < vh.blocks(); kb++) {
                    Microkernel.tile(vh.data(), vh.offset(kb, p), pt, kb * vh.kc() * NR, vh.kcOf(kb), ot,
                            (long) p * MR * NR, NR, MR, NR, kb > 0, null, 0, null, 0);
                }
            }
            for (int j = 0; j < nq; j++) {
                float inv = 1f / sums[j];
                long dst = ((long) b * lq + q0 + j) * hd + (long) h * d;
                for (int i = 0; i < d; i++) out.setAtIndex(F, dst + i, ot.getAtIndex(F, (long) i * NR + j) * inv);
            }
        });
    }

    /** pt[r][j] = exp(scale * (st[r][j] - max_r st[r][j])) over valid (r, j); sums[j] = sum_r pt[r][j]. */
    private static void softmaxColumns(MemorySegment st, float[] pt, int lk, int q0, boolean causal, float scale, float[] sums) {
        FloatVector m0 = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        FloatVector m1 = m0;
        final long vb = VL * 4L;
        for (int r = 0; r < lk; r++) {
            long off = (long) r * NR * 4;
            FloatVector s0 = FloatVector.fromMemorySegment(S, st, off, NO);
            FloatVector s1 = FloatVector.fromMemorySegment(S, st, off + vb, NO);
            if (causal) {
                s0 = s0.blend(Float.NEGATIVE_INFINITY, masked(r - q0));
                s1 = s1.blend(Float.NEGATIVE_INFINITY, masked(r - q0 - VL));
            }
            m0 = m0.max(s0);
            m1 = m1.max(s1);
        }
        FloatVector sc = FloatVector.broadcast(S, scale);
        FloatVector bias0 = m0.mul(sc).neg();
        FloatVector bias1 = m1.mul(sc).neg();
        FloatVector a0 = FloatVector.zero(S);
        FloatVector a1 = a0;
        for (int r = 0; r < lk; r++) {
            long off = (long) r * NR * 4;
            FloatVector s0 = FloatVector.fromMemorySegment(S, st, off, NO).fma(sc, bias0).lanewise(VectorOperators.EXP);
            FloatVector s1 = FloatVector.fromMemorySegment(S, st, off + vb, NO).fma(sc, bias1).lanewise(VectorOperators.EXP);
            if (causal) {
                s0 = s0.blend(0f, masked(r - q0));
                s1 = s1.blend(0f, masked(r - q0 - VL));
            }
            s0.intoArray(pt, r * NR);
            s1.intoArray(pt, r * NR + VL);
            a0 = a0.add(s0);
            a1 = a1.add(s1);
        }
        a0.intoArray(sums, 0);
        a1.intoArray(sums, VL);
    }

    /** Lanes j with j < t: the query q0 + j lies before key r when t = r - q0 (minus the half offset). */
    private static VectorMask<Float> masked(int t) {
        return S.indexInRange(0, Math.max(0, Math.min(VL, t)));
    }
}
