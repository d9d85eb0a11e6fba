package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

import static dev.panamadiffusion.backend.cpu.Microkernel.MR;
import static dev.panamadiffusion.backend.cpu.Microkernel.NR;
import static dev.panamadiffusion.backend.cpu.Microkernel.S;
import static dev.panamadiffusion.backend.cpu.Microkernel.VL;

/**
 * 2-D convolution as implicit GEMM: per image, out[O, Ho*Wo] = W[O, C*kh*kw] · cols[C*kh*kw, Ho*Wo]. The weight is
 * packed once into MR-wide A panels; the column matrix is never materialised: each task packs its block of output
 * pixels, one reduction block at a time, into NR-wide B panels, from a zero-padded copy of the input (or, for a
 * 1x1 convolution, straight from the input).
 */
final class Conv2dCpu {
    private Conv2dCpu() {}

    /** Output pixels per task. */
    static final int NC = 8 * NR;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder NO = ByteOrder.nativeOrder();

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
        final boolean direct = kh == 1 && kw == 1 && stride == 1 && pad == 0;
        final float[] xp = direct ? null : padded(par, x, xBase, n * c, h, wd, pad);
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
            int colPanels = (cols + NR - 1) / NR;
            Scratch s = Scratch.get();
            float[] b = s.b(colPanels * NR * w.kc());
            Runs runs = new Runs(j0, cols, wo, stride, wp);
            long outBase = (long) img * o * pixels;
            for (int kb = 0; kb < w.blocks(); kb++) {
                int kc = w.kcOf(kb);
                int k0 = kb * w.kc();
                if (direct) {
                    packDirect(x, xBase + (long) img * c * pixels + j0, pixels, k0, kc, cols, b);
                } else {
                    packColumns(xp, img * c * hp * wp, hp, wp, kh, kw, khw, stride, k0, kc, runs, b);
                }
                boolean acc = kb > 0;
                for (int p = p0; p < p1; p++) {
                    int ao = w.offset(kb, p);
                    int mr = Math.min(MR, o - p * MR);
                    for (int q = 0; q < colPanels; q++) {
                        Microkernel.tile(w.data(), ao, b, q * kc * NR, kc, out, outBase + (long) p * MR * pixels + j0 + q * NR,
                                pixels, mr, Math.min(NR, cols - q * NR), acc, bias, p * MR, null, 0);
                    }
                }
            }
        });
    }

    /** The input with {@code pad} zeros around every plane, in the calling thread's scratch: [planes, h+2p, w+2p]. */
    private static float[] padded(Parallel par, MemorySegment x, long xBase, int planes, int h, int wd, int pad) {
        int hp = h + 2 * pad;
        int wp = wd + 2 * pad;
        float[] xp = Scratch.get().padded(Math.multiplyExact(Math.multiplyExact(planes, hp), wp));
        par.forEach(planes, plane -> {
            long src = xBase + (long) plane * h * wd;
            int base = plane * hp * wp;
            Arrays.fill(xp, base, base + pad * wp, 0f);
            for (int y = 0; y < h; y++) {
                int row = base + (y + pad) * wp;
                Arrays.fill(xp, row, row + pad, 0f);
                MemorySegment.copy(x, F, (src + (long) y * wd) * 4, xp, row + pad, wd);
                Arrays.fill(xp, row + pad + wd, row + wp, 0f);
            }
            Arrays.fill(xp, base + (pad + h) * wp, base + hp * wp, 0f);
        });
        return xp;
    }

    /** The pieces of a block of output pixels that are contiguous in one output row and one B panel. */
    private static final class Runs {
        final int[] dst;  // offset within a panel row block: (jj / NR) * kc * NR is added per k block
        final int[] panel;
        final int[] src;  // offset of the first input element relative to (ky, kx) = (0, 0)
        final int[] len;
        final int count;

        Runs(int j0, int cols, int wo, int stride, int wp) {
            int max = cols + (cols / Math.max(1, wo)) + 2 + cols / NR;
            int[] d = new int[max], p = new int[max], s = new int[max], l = new int[max];
            int r = 0;
            for (int j = j0, end = j0 + cols; j < end; ) {
                int oy = j / wo;
                int ox = j - oy * wo;
                int jj = j - j0;
                int run = Math.min(Math.min(wo - ox, end - j), NR - jj % NR);
                d[r] = jj % NR;
                p[r] = jj / NR;
                s[r] = oy * stride * wp + ox * stride;
                l[r] = run;
                r++;
                j += run;
            }
            dst = d;
            panel = p;
            src = s;
            len = l;
            count = r;
        }
    }

    /** B block for reduction [k0, k0 + kc): b[q][kk][jj] = xp[img, ch, oy*stride + ky, ox*stride + kx]. */
    private static void packColumns(float[] xp, int imgBase, int hp, int wp, int kh, int kw, int khw, int stride, int k0,
                                    int kc, Runs runs, float[] b) {
        final int panelStride = kc * NR;
        for (int kk = 0; kk < kc; kk++) {
            int kIdx = k0 + kk;
            int ch = kIdx / khw;
            int ky = (kIdx % khw) / kw;
            int kx = kIdx % kw;
            int srcK = imgBase + (ch * hp + ky) * wp + kx;
            int dstK = kk * NR;
            for (int r = 0; r < runs.count; r++) {
                int src = srcK + runs.src[r];
                int dst = runs.panel[r] * panelStride + dstK + runs.dst[r];
                int len = runs.len[r];
                if (stride == 1) {
                    int i = 0;
                    for (; i + VL <= len; i += VL) FloatVector.fromArray(S, xp, src + i).intoArray(b, dst + i);
                    for (; i < len; i++) b[dst + i] = xp[src + i];
                } else {
                    for (int i = 0; i < len; i++) b[dst + i] = xp[src + i * stride];
                }
            }
        }
    }

    /** B block of a 1x1 convolution: b[q][kk][jj] = x[img, k0 + kk, j0 + jj], read straight from the input. */
    private static void packDirect(MemorySegment x, long base, int pixels, int k0, int kc, int cols, float[] b) {
        final int panelStride = kc * NR;
        for (int kk = 0; kk < kc; kk++) {
            long src = base + (long) (k0 + kk) * pixels;
            for (int jj = 0; jj < cols; jj += NR) {
                int dst = (jj / NR) * panelStride + kk * NR;
                int len = Math.min(NR, cols - jj);
                if (len == NR) {
                    FloatVector.fromMemorySegment(S, x, (src + jj) * 4, NO).intoArray(b, dst);
                    FloatVector.fromMemorySegment(S, x, (src + jj + VL) * 4, NO).intoArray(b, dst + VL);
                } else {
                    MemorySegment.copy(x, F, (src + jj) * 4, b, dst, len);
                }
            }
        }
    }
}
