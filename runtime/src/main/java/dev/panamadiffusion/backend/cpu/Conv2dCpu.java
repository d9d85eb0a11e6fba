package dev.panamadiffusion.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.panamadiffusion.backend.cpu.Microkernel.MR;
import static dev.panamadiffusion.backend.cpu.Microkernel.NR;

/**
 * 2-D convolution as implicit GEMM: per image, out[O, Ho*Wo] = W[O, C*kh*kw] · cols[C*kh*kw, Ho*Wo]. The weight is
 * packed once into MR-wide A panels; the column matrix is never materialised: each task packs its block of output
 * pixels, one reduction block at a time, straight from the zero-padded input into NR-wide B panels.
 */
final class Conv2dCpu {
    private Conv2dCpu() {}

    /** Output pixels per task. */
    static final int NC = 8 * NR;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** Packs a weight [O, C, kh, kw] as the A operand. */
    static Packed packWeight(MemorySegment w, long base, int o, int k) {
        return Packed.pack(w, base, k, 1, o, k, MR);
    }

    /**
     * x [N, C, H, W] at element {@code xBase}, packed weight (O x C*kh*kw), bias padded to w.nPad() or null,
     * out [N, O, Ho, Wo].
     */
    static void conv(Parallel par, MemorySegment x, long xBase, int n, int c, int h, int wd, Packed w, int kh, int kw,
                     int stride, int pad, float[] bias, MemorySegment out) {
        final int o = w.n();
        final int hp = h + 2 * pad;
        final int wp = wd + 2 * pad;
        final int ho = (hp - kh) / stride + 1;
        final int wo = (wp - kw) / stride + 1;
        final int pixels = ho * wo;
        // zero-padded input copy on the heap: [N, C, hp, wp]
        final float[] xp = new float[Math.multiplyExact(Math.multiplyExact(n * c, hp), wp)];
        par.forEach(n * c, plane -> {
            long src = xBase + (long) plane * h * wd;
            int dst = plane * hp * wp + pad * wp + pad;
            for (int y = 0; y < h; y++) {
                MemorySegment.copy(x, F, (src + (long) y * wd) * 4, xp, dst + y * wp, wd);
            }
        });
        final int pTasks = (pixels + NC - 1) / NC;
        final int panelsO = w.panels();
        int oTasks = 1;
        if (n * pTasks < 4 * par.threads()) oTasks = Math.min(panelsO, (4 * par.threads() + n * pTasks - 1) / (n * pTasks));
        final int ot = oTasks;
        final int panelsPerTask = (panelsO + ot - 1) / ot;
        final int khw = kh * kw;
        par.forEach(n * pTasks * ot, task -> {
            int oi = task % ot;
            int pi = (task / ot) % pTasks;
            int img = task / ot / pTasks;
            int p0 = oi * panelsPerTask;
            int p1 = Math.min(panelsO, p0 + panelsPerTask);
            if (p0 >= p1) return;
            int j0 = pi * NC;
            int cols = Math.min(NC, pixels - j0);
            float[] b = Scratch.get().b(Packed.pad(cols, NR) * w.kc());
            long outBase = (long) img * o * pixels;
            int imgBase = img * c * hp * wp;
            for (int kb = 0; kb < w.blocks(); kb++) {
                int kc = w.kcOf(kb);
                int k0 = kb * w.kc();
                // im2col block: b[q][kk][jj] = xp[img, ch, oy*stride + ky, ox*stride + kx]
                for (int kk = 0; kk < kc; kk++) {
                    int kIdx = k0 + kk;
                    int ch = kIdx / khw;
                    int ky = (kIdx % khw) / kw;
                    int kx = kIdx % kw;
                    int srcK = imgBase + (ch * hp + ky) * wp + kx;
                    int j = j0;
                    int end = j0 + cols;
                    while (j < end) {
                        int oy = j / wo;
                        int ox = j - oy * wo;
                        int jj = j - j0;
                        int run = Math.min(Math.min(wo - ox, end - j), NR - jj % NR);
                        int dst = (jj / NR) * kc * NR + kk * NR + jj % NR;
                        int src = srcK + oy * stride * wp + ox * stride;
                        if (stride == 1) {
                            System.arraycopy(xp, src, b, dst, run);
                        } else {
                            for (int r = 0; r < run; r++) b[dst + r] = xp[src + r * stride];
                        }
                        j += run;
                    }
                }
                boolean acc = kb > 0;
                for (int p = p0; p < p1; p++) {
                    int ao = w.offset(kb, p);
                    int mr = Math.min(MR, o - p * MR);
                    for (int q = 0; q * NR < cols; q++) {
                        int nr = Math.min(NR, cols - q * NR);
                        Microkernel.tile(w.data(), ao, b, q * kc * NR, kc, out, outBase + (long) p * MR * pixels + j0 + q * NR,
                                pixels, mr, nr, acc, bias, p * MR, null, 0);
                    }
                }
            }
        });
    }
}
