package dev.panamadiffusion.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A matrix operand packed into micro-panels for {@link Microkernel}: {@code n} rows (A side, width MR) or columns
 * (B side, width NR), padded to {@code nPad}, split along the reduction dimension {@code k} into blocks of
 * {@code kc}. Block kb, panel p starts at {@code kb*kc*nPad + p*kcOf(kb)*width} and holds kcOf(kb) steps of
 * {@code width} values; padding is zero.
 */
record Packed(float[] data, int n, int nPad, int k, int kc, int width) {
    static final int KC_MAX = 256;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    int blocks() { return (k + kc - 1) / kc; }

    int kcOf(int kb) { return Math.min(kc, k - kb * kc); }

    int panels() { return nPad / width; }

    int offset(int kb, int panel) { return kb * kc * nPad + panel * kcOf(kb) * width; }

    /** The reduction block size for a reduction of length {@code k}: blocks of at most KC_MAX, evened out. */
    static int blockK(int k) {
        int nb = Math.max(1, (k + KC_MAX - 1) / KC_MAX);
        return Math.max(1, (k + nb - 1) / nb);
    }

    static int pad(int n, int width) { return (n + width - 1) / width * width; }

    /**
     * Packs the n x k matrix M[i][kk] = src[base + i*rs + kk*ks] (element indices into an f32 segment) into
     * panels of {@code width}, rows in parallel when {@code par} is given.
     */
    static Packed pack(Parallel par, MemorySegment src, long base, long rs, long ks, int n, int k, int width) {
        int kc = blockK(k);
        int nPad = pad(n, width);
        Packed p = new Packed(new float[Math.multiplyExact(nPad, k)], n, nPad, k, kc, width);
        int rowsPerTask = Math.max(width, (1 << 16) / Math.max(1, k) / width * width);
        Parallel.RangeBody body = (r0, r1) -> p.packRows(src, base, rs, ks, (int) r0, (int) r1);
        if (par == null) body.run(0, n);
        else par.forRange(n, rowsPerTask, body);
        return p;
    }

    static Packed pack(MemorySegment src, long base, long rs, long ks, int n, int k, int width) {
        return pack(null, src, base, rs, ks, n, k, width);
    }

    private void packRows(MemorySegment src, long base, long rs, long ks, int r0, int r1) {
        float[] row = new float[Math.min(k, kc)];
        for (int kb = 0; kb < blocks(); kb++) {
            int k0 = kb * kc;
            int len = kcOf(kb);
            for (int i = r0; i < r1; i++) {
                int dst = offset(kb, i / width) + i % width;
                long s = base + i * rs + k0 * ks;
                if (ks == 1) {
                    MemorySegment.copy(src, F, s * 4, row, 0, len);
                    for (int kk = 0; kk < len; kk++) data[dst + kk * width] = row[kk];
                } else {
                    for (int kk = 0; kk < len; kk++) data[dst + kk * width] = src.getAtIndex(F, s + kk * ks);
                }
            }
        }
    }
}
