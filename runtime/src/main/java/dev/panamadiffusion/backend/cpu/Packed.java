package dev.panamadiffusion.backend.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A matrix operand packed into micro-panels for {@link Microkernel}: {@code n} rows (A side, width MR) or columns
 * (B side, width NR), padded to {@code nPad}, split along the reduction dimension {@code k} into blocks of
 * {@code kc}. Block kb, panel p starts at element {@code kb*kc*nPad + p*kcOf(kb)*width} of {@code data} and holds
 * kcOf(kb) steps of {@code width} values; padding is zero. The panels are native memory (64-byte aligned), off the
 * Java heap: a weight's lives as long as the arena its {@link WeightCache} entry allocated it from.
 */
record Packed(MemorySegment data, int n, int nPad, int k, int kc, int width) {
    static final int KC_MAX = 256;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    int blocks() { return (k + kc - 1) / kc; }

    int kcOf(int kb) { return Math.min(kc, k - kb * kc); }

    int panels() { return nPad / width; }

    int offset(int kb, int panel) { return kb * kc * nPad + panel * kcOf(kb) * width; }

    /** Bytes of panel memory for an n x k operand of {@code width}. */
    static long bytes(int n, int k, int width) { return (long) pad(n, width) * k * 4; }

    /** The reduction block size for a reduction of length {@code k}: blocks of at most KC_MAX, evened out. */
    static int blockK(int k) {
        int nb = Math.max(1, (k + KC_MAX - 1) / KC_MAX);
        return Math.max(1, (k + nb - 1) / nb);
    }

    static int pad(int n, int width) { return (n + width - 1) / width * width; }

    /**
     * Packs the n x k matrix M[i][kk] = src[base + i*rs + kk*ks] (element indices into an f32 segment) into
     * panels of {@code width} allocated from {@code arena}, rows in parallel when {@code par} is given.
     */
    static Packed pack(Parallel par, MemorySegment src, long base, long rs, long ks, int n, int k, int width, Arena arena) {
        return pack(par, src, base, rs, ks, n, k, width, blockK(k), arena.allocate(Math.max(4, bytes(n, k, width)), 64));
    }

    /**
     * As {@link #pack(Parallel, MemorySegment, long, long, long, int, int, int, Arena)} with reduction blocks of
     * {@code kc}, into {@code into} (at least {@link #bytes} long; any contents: the padding is written too).
     */
    static Packed pack(Parallel par, MemorySegment src, long base, long rs, long ks, int n, int k, int width, int kc,
                       MemorySegment into) {
        int nPad = pad(n, width);
        if (into.byteSize() < bytes(n, k, width)) throw new IllegalArgumentException("packed operand needs " + bytes(n, k, width) + " bytes");
        Packed p = new Packed(into, n, nPad, k, kc, width);
        int rowsPerTask = Math.max(width, (1 << 16) / Math.max(1, k) / width * width);
        Parallel.RangeBody body = (r0, r1) -> p.packPanels(src, base, rs, ks, (int) r0, (int) r1);
        if (par == null) body.run(0, n);
        else par.forRange(n, rowsPerTask, body);
        return p;
    }

    /** Packs on the calling thread into a new automatically freed segment (tests, small operands). */
    static Packed pack(MemorySegment src, long base, long rs, long ks, int n, int k, int width) {
        return pack(null, src, base, rs, ks, n, k, width, Arena.ofAuto());
    }

    /** The panels holding rows [r0, r1) (r0 a multiple of width), the last one's rows past n as zeros. */
    private void packPanels(MemorySegment src, long base, long rs, long ks, int r0, int r1) {
        int steps = Math.min(k, kc);
        float[] panel = new float[steps * width];
        float[] row = new float[steps];
        for (int kb = 0; kb < blocks(); kb++) {
            int k0 = kb * kc;
            int len = kcOf(kb);
            for (int pn = r0 / width, pEnd = (r1 + width - 1) / width; pn < pEnd; pn++) {
                for (int w = 0; w < width; w++) {
                    int i = pn * width + w;
                    if (i >= n) {
                        for (int kk = 0; kk < len; kk++) panel[kk * width + w] = 0f;
                        continue;
                    }
                    long s = base + i * rs + k0 * ks;
                    if (ks == 1) {
                        MemorySegment.copy(src, F, s * 4, row, 0, len);
                        for (int kk = 0; kk < len; kk++) panel[kk * width + w] = row[kk];
                    } else {
                        for (int kk = 0; kk < len; kk++) panel[kk * width + w] = src.getAtIndex(F, s + kk * ks);
                    }
                }
                MemorySegment.copy(panel, 0, data, F, offset(kb, pn) * 4L, len * width);
            }
        }
    }
}
