package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.panamadiffusion.backend.cpu.Microkernel.MR;
import static dev.panamadiffusion.backend.cpu.Microkernel.NR;
import static dev.panamadiffusion.backend.cpu.Microkernel.VL;

/**
 * Scaled dot-product attention, computed transposed so that every product is a GEMM tile and the softmax runs
 * across vector lanes, with an online softmax over blocks of keys (flash-attention style). Per (batch, head), K
 * and V^T are packed once as A panels, in blocks of {@link #KB} keys. A task takes up to {@link #PANELS} panels of
 * NR queries; for each key block and panel: S^T[KB, NR] = K · Q^T (Q pre-scaled by 1/sqrt(d)), the running column
 * max m and sum l are updated, the accumulator rescaled, P^T = exp(S^T - m) and O^T[d, NR] += V^T · P^T. Output is
 * O^T / l, transposed. Only a KB x NR score block exists at a time, and a key block is reused while in cache.
 */
final class AttentionCpu {
    private AttentionCpu() {}

    /** Keys per block: a multiple of MR, so that a block starts on a K panel. */
    static final int KB = 40 * MR;
    /** Query panels (of NR queries) per task. */
    static final int PANELS = 4;
    private static final VectorSpecies<Float> S = Microkernel.S;
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** Floats of scratch {@link #attention} needs: every (batch, head)'s packed K and V^T. */
    static long scratchFloats(int batch, int heads, int lk, int d) {
        return (long) batch * heads * (Packed.bytes(lk, d, MR) + Packed.bytes(d, lk, MR)) / 4;
    }

    /**
     * q [B, Lq, H*d], k and v [B, Lk, H*d] (contiguous, element offset 0) → out [B, Lq, H*d]; {@code scratch} holds
     * at least {@link #scratchFloats} floats (any contents), for the packed keys and values.
     */
    static void attention(Parallel par, MemorySegment q, MemorySegment k, MemorySegment v, int batch, int lq, int lk,
                          int heads, int d, boolean causal, MemorySegment out, MemorySegment scratch) {
        final int hd = heads * d;
        final Packed[] kp = new Packed[batch * heads];
        final Packed[] vt = new Packed[batch * heads];
        final long kBytes = Packed.bytes(lk, d, MR), vBytes = Packed.bytes(d, lk, MR);
        if (scratch.byteSize() < (long) batch * heads * (kBytes + vBytes)) throw new IllegalArgumentException("attention scratch too small");
        par.forEach(batch * heads, bh -> {
            long base = (long) (bh / heads) * lk * hd + (long) (bh % heads) * d;
            long at = bh * (kBytes + vBytes);
            kp[bh] = Packed.pack(null, k, base, hd, 1, lk, d, MR, d, scratch.asSlice(at, kBytes)); // K_h [Lk, d], one reduction block
            vt[bh] = packTransposed(v, base, hd, lk, d, scratch.asSlice(at + kBytes, vBytes)); // V_h^T [d, Lk], blocks of KB keys
        });
        final int qPanels = (lq + NR - 1) / NR;
        final int groups = (qPanels + PANELS - 1) / PANELS;
        final float scale = (float) (1.0 / Math.sqrt(d));
        par.forEach(batch * heads * groups, task -> {
            int bh = task / groups;
            int g = task % groups;
            int b = bh / heads;
            int h = bh % heads;
            int panels = Math.min(PANELS, qPanels - g * PANELS);
            new Block(kp[bh], vt[bh], d, lk, causal).run(q, out, ((long) b * lq) * hd + (long) h * d, hd,
                    g * PANELS * NR, Math.min(lq, (g * PANELS + panels) * NR), scale);
        });
    }

    /** V^T as MR-wide A panels over d with reduction blocks of exactly KB keys, into {@code data}. */
    private static Packed packTransposed(MemorySegment v, long base, long ld, int lk, int d, MemorySegment data) {
        int dPad = Packed.pad(d, MR);
        int kc = Math.min(KB, lk);
        Packed p = new Packed(data, d, dPad, lk, kc, MR);
        float[] row = Scratch.get().row(dPad);
        java.util.Arrays.fill(row, d, dPad, 0f); // the last panel's padding rows
        for (int r = 0; r < lk; r++) {
            MemorySegment.copy(v, F, (base + r * ld) * 4, row, 0, d);
            int kb = r / kc;
            int kk = r % kc;
            for (int i = 0; i < dPad; i++) data.setAtIndex(F, p.offset(kb, i / MR) + kk * MR + i % MR, row[i]);
        }
        return p;
    }

    /** One task: the queries [q0, q1) of one (batch, head). */
    private static final class Block {
        final Packed kh;
        final Packed vh;
        final int d;
        final int lk;
        final boolean causal;
        final float[] alpha = new float[NR];
        final float[] max = new float[NR];

        Block(Packed kh, Packed vh, int d, int lk, boolean causal) {
            this.kh = kh;
            this.vh = vh;
            this.d = d;
            this.lk = lk;
            this.causal = causal;
        }

        void run(MemorySegment q, MemorySegment out, long base, int ld, int q0, int q1, float scale) {
            Scratch s = Scratch.get();
            int panels = (q1 - q0 + NR - 1) / NR;
            int dPad = vh.nPad();
            float[] qt = s.b(panels * d * NR);                       // Q^T per panel: [d][NR], pre-scaled
            float[] row = s.row(d);
            for (int j = q0; j < q1; j++) {
                MemorySegment.copy(q, F, (base + (long) j * ld) * 4, row, 0, d);
                int o = ((j - q0) / NR) * d * NR + (j - q0) % NR;
                for (int kk = 0; kk < d; kk++) qt[o + kk * NR] = row[kk] * scale;
            }
            for (int j = q1; j < q0 + panels * NR; j++) {
                int o = ((j - q0) / NR) * d * NR + (j - q0) % NR;
                for (int kk = 0; kk < d; kk++) qt[o + kk * NR] = 0f;
            }
            MemorySegment st = s.seg1((long) KB * NR);                 // S^T block [KB, NR]
            float[] pt = s.c(KB * NR);                                 // P^T block
            MemorySegment acc = s.seg2((long) panels * dPad * NR);     // O^T per panel [dPad, NR]
            float[] m = new float[panels * NR];
            float[] l = new float[panels * NR];
            java.util.Arrays.fill(m, Float.NEGATIVE_INFINITY);
            boolean[] started = new boolean[panels];
            MemorySegment kd = kh.data();
            MemorySegment vd = vh.data();
            for (int kb = 0; kb < vh.blocks(); kb++) {
                int r0 = kb * vh.kc();
                int rows = vh.kcOf(kb);
                for (int p = 0; p < panels; p++) {
                    int qp = q0 + p * NR;
                    if (causal && r0 > Math.min(q1 - 1, qp + NR - 1)) continue; // every key of the block is masked
                    for (int i = 0; i * MR < rows; i++) {
                        int panel = r0 / MR + i;
                        Microkernel.tile(kd, kh.offset(0, panel), qt, p * d * NR, d, st, (long) i * MR * NR, NR,
                                MR, NR, false, null, 0, null, 0);
                    }
                    long accBase = (long) p * dPad * NR;
                    boolean first = !started[p];
                    softmaxBlock(st, pt, rows, r0 - qp, m, l, p * NR, acc, accBase, dPad, first);
                    for (int i = 0; i < vh.panels(); i++) {
                        Microkernel.tile(vd, vh.offset(kb, i), pt, 0, rows, acc, accBase + (long) i * MR * NR, NR,
                                MR, NR, !first, null, 0, null, 0);
                    }
                    started[p] = true;
                }
            }
            float[] ot = s.a(dPad * NR);
            for (int p = 0; p < panels; p++) {
                MemorySegment.copy(acc, F, (long) p * dPad * NR * 4, ot, 0, dPad * NR);
                for (int j = q0 + p * NR; j < Math.min(q1, q0 + (p + 1) * NR); j++) {
                    int c = (j - q0) % NR;
                    float inv = 1f / l[p * NR + c];
                    for (int i = 0; i < d; i++) row[i] = ot[i * NR + c] * inv;
                    MemorySegment.copy(row, 0, out, F, (base + (long) j * ld) * 4, d);
                }
            }
        }

        /**
         * Online softmax step for one key block of one query panel: new column max, rescale of the running sum and
         * (unless {@code first}) of the accumulator, P^T = exp(S^T - m) with the column sums in one pass. {@code t}
         * is the first key minus the first query (for the causal mask). Each pass is a method of its own over one
         * half panel (one compiled copy of exp each, and no vector crossing a call).
         */
        private void softmaxBlock(MemorySegment st, float[] pt, int rows, int t, float[] m, float[] l, int mo,
                                  MemorySegment acc, long accBase, int dPad, boolean first) {
            final long vb = VL * 4L;
            float[] n = this.max;
            maxBlock(st, rows, 0, m, mo, t, n);
            maxBlock(st, rows, VL, m, mo, t - VL, n);
            if (first) {
                java.util.Arrays.fill(l, mo, mo + NR, 0f);
            } else {
                float[] alpha = this.alpha;
                FloatVector.fromArray(S, m, mo).sub(FloatVector.fromArray(S, n, 0)).intoArray(alpha, 0);
                FloatVector.fromArray(S, m, mo + VL).sub(FloatVector.fromArray(S, n, VL)).intoArray(alpha, VL);
                VectorMath.expInPlace(alpha, 0, NR);
                FloatVector a0 = FloatVector.fromArray(S, alpha, 0);
                FloatVector a1 = FloatVector.fromArray(S, alpha, VL);
                FloatVector.fromArray(S, l, mo).mul(a0).intoArray(l, mo);
                FloatVector.fromArray(S, l, mo + VL).mul(a1).intoArray(l, mo + VL);
                for (int i = 0; i < dPad; i++) {
                    long off = (accBase + (long) i * NR) * 4;
                    FloatVector.fromMemorySegment(S, acc, off, NO).mul(a0).intoMemorySegment(acc, off, NO);
                    FloatVector.fromMemorySegment(S, acc, off + vb, NO).mul(a1).intoMemorySegment(acc, off + vb, NO);
                }
            }
            System.arraycopy(n, 0, m, mo, NR);
            expBlock(st, pt, rows, 0, m, l, mo, t);
            expBlock(st, pt, rows, VL, m, l, mo + VL, t - VL);
        }

        /**
         * n[h, h + VL) = the column max of m[mo + h, ...) and the block's unmasked scores in lanes h to h + VL, in
         * two chains of compare-and-blend (one chain waited on each step's latency; not {@code FloatVector.max}, whose
         * NaN and signed-zero rules make it a sequence of instructions, 4x slower on a dependent chain).
         *
         * <p>No vector crosses a call here or in {@link #expBlock}: where C2 does not inline such a call it boxes the
         * vectors, and it did not always inline even a 14-byte helper ("already compiled into a medium method", from
         * the order in which methods were compiled); self-attention then took 1.2x or 2.5x as long in that JVM.
         */
        private void maxBlock(MemorySegment st, int rows, int h, float[] m, int mo, int t, float[] n) {
            FloatVector x = FloatVector.fromArray(S, m, mo + h), y = x;
            int r = 0;
            for (; r + 1 < rows; r += 2) {
                FloatVector s0 = FloatVector.fromMemorySegment(S, st, (r * NR + h) * 4L, NO);
                FloatVector s1 = FloatVector.fromMemorySegment(S, st, ((r + 1) * NR + h) * 4L, NO);
                if (causal) {
                    s0 = s0.blend(Float.NEGATIVE_INFINITY, S.indexInRange(0, lanesBefore(t + r)));
                    s1 = s1.blend(Float.NEGATIVE_INFINITY, S.indexInRange(0, lanesBefore(t + r + 1)));
                }
                x = x.blend(s0, x.compare(VectorOperators.LT, s0));
                y = y.blend(s1, y.compare(VectorOperators.LT, s1));
            }
            if (r < rows) {
                FloatVector s0 = FloatVector.fromMemorySegment(S, st, (r * NR + h) * 4L, NO);
                if (causal) s0 = s0.blend(Float.NEGATIVE_INFINITY, S.indexInRange(0, lanesBefore(t + r)));
                x = x.blend(s0, x.compare(VectorOperators.LT, s0));
            }
            x.blend(y, x.compare(VectorOperators.LT, y)).intoArray(n, h);
        }

        /**
         * One half panel (lanes {@code h} to {@code h + VL}) of P^T = exp(S^T - m) for {@code rows} keys, into
         * {@code pt}, its column sums added to l[lo, lo + VL) in key order; m is read at {@code lo}. Masked entries
         * (causal) are exactly 0. (Vectors come in as arrays: a FloatVector parameter's class is not known to the
         * compiled method, and every operation on it would then box.)
         */
        private void expBlock(MemorySegment st, float[] pt, int rows, int h, float[] m, float[] l, int lo, int t) {
            FloatVector sum = FloatVector.fromArray(S, l, lo);
            if (causal) {
                for (int r = 0; r < rows; r++) {
                    int o = r * NR + h;
                    VectorMath.expNonPositive(st, o * 4L, m, lo, pt, o);
                    FloatVector p = FloatVector.fromArray(S, pt, o).blend(0f, S.indexInRange(0, lanesBefore(t + r)));
                    p.intoArray(pt, o);
                    sum = sum.add(p);
                }
            } else {
                for (int r = 0; r < rows; r++) {
                    int o = r * NR + h;
                    VectorMath.expNonPositive(st, o * 4L, m, lo, pt, o);
                    sum = sum.add(FloatVector.fromArray(S, pt, o));
                }
            }
            sum.intoArray(l, lo);
        }
    }

    /**
     * How many lanes j of a half panel have j < t, i.e. hold queries before the key when t = key - its first query:
     * the causal mask's lanes. A count, not the mask: a mask returned from a call C2 did not inline would be boxed.
     */
    private static int lanesBefore(int t) {
        return Math.max(0, Math.min(VL, t));
    }
}
