package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

import java.lang.foreign.Arena;
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

    /** Packs a weight [O, C, kh, kw] as the A operand, into {@code arena}. */
    static Packed packWeight(Parallel par, MemorySegment w, long base, int o, int k, Arena arena) {
        return packWeight(par, w, base, o, k, Packed.Format.F32, arena);
    }

    /** As above, stored in {@code format}. */
    static Packed packWeight(Parallel par, MemorySegment w, long base, int o, int k, Packed.Format format, Arena arena) {
        return Packed.pack(par, w, base, k, 1, o, k, MR, format, arena);
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
        // Column chunks: NC output pixels, spanning images when whole panels never straddle two (so a weight block
        // serves every image while in cache), else per image.
        final boolean span = pixels % NR == 0;
        final int perImage = (pixels + NC - 1) / NC;
        final int chunks = span ? (int) (((long) n * pixels + NC - 1) / NC) : n * perImage;
        final int panelsO = w.panels();
        int oTasks = 1;
        // too few chunks for the pool: split the output channels too (each such task packs its chunk's columns again)
        if (chunks < 2 * par.threads()) oTasks = Math.min(panelsO, (2 * par.threads() + chunks - 1) / chunks);
        final int ot = oTasks;
        final int panelsPerTask = (panelsO + ot - 1) / ot;
        final int khw = kh * kw;
        par.forEach(chunks * ot, task -> {
            int p0 = (task % ot) * panelsPerTask;
            int p1 = Math.min(panelsO, p0 + panelsPerTask);
            if (p0 >= p1) return;
            int chunk = task / ot;
            long j0 = span ? (long) chunk * NC : (long) (chunk / perImage) * pixels + (long) (chunk % perImage) * NC;
            long j1 = span ? Math.min((long) n * pixels, j0 + NC) : Math.min(j0 + NC, (chunk / perImage + 1L) * pixels);
            Piece[] pieces = Piece.split(j0, j1, pixels, wo, stride, wp);
            int colPanels = pieces[pieces.length - 1].q0 + pieces[pieces.length - 1].panels;
            float[] b = Scratch.get().b(colPanels * NR * w.kc());
            for (int kb = 0; kb < w.blocks(); kb++) {
                int kc = w.kcOf(kb);
                int k0 = kb * w.kc();
                for (Piece pc : pieces) {
                    if (direct) {
                        packDirect(x, xBase + (long) pc.img * c * pixels + pc.j0, pixels, k0, kc, pc.cols, b, pc.q0);
                    } else {
                        packColumns(xp, pc.img * c * hp * wp, hp, wp, kw, khw, stride, k0, kc, pc.runs, b, pc.q0);
                    }
                }
                boolean acc = kb > 0;
                for (int p = p0; p < p1; p++) {
                    int ao = w.offset(kb, p);
                    int mr = Math.min(MR, o - p * MR);
                    // reduced weights: the panel widened to f32 once, for every column panel of the chunk
                    float[] aw = w.format() == Packed.Format.F32 ? null : WeightKernels.widenA(w, kb, p, WeightKernels.panelBuffer());
                    for (Piece pc : pieces) {
                        long outBase = ((long) pc.img * o + (long) p * MR) * pixels + pc.j0;
                        for (int q = 0; q < pc.panels; q++) {
                            int bo = (pc.q0 + q) * kc * NR;
                            long ci = outBase + (long) q * NR;
                            int nr = Math.min(NR, pc.cols - q * NR);
                            if (aw == null) Microkernel.tile(w.data(), ao, b, bo, kc, out, ci, pixels, mr, nr, acc, bias, p * MR, null, 0);
                            else Microkernel.tile(aw, 0, 1, MR, b, bo, kc, out, ci, pixels, mr, nr, acc, bias, p * MR, null, 0);
                        }
                    }
                }
            }
        });
    }

    /** The part of a column chunk inside one image: columns [j0, j0 + cols) of image img, from B panel q0 on. */
    private static final class Piece {
        final int img;
        final int j0;
        final int cols;
        final int q0;
        final int panels;
        final Runs runs;

        private Piece(int img, int j0, int cols, int q0, Runs runs) {
            this.img = img;
            this.j0 = j0;
            this.cols = cols;
            this.q0 = q0;
            this.panels = (cols + NR - 1) / NR;
            this.runs = runs;
        }

        static Piece[] split(long g0, long g1, int pixels, int wo, int stride, int wp) {
            java.util.List<Piece> list = new java.util.ArrayList<>(2);
            int q0 = 0;
            for (long g = g0; g < g1; ) {
                int img = (int) (g / pixels);
                int j = (int) (g % pixels);
                int cols = (int) Math.min(g1 - g, pixels - j);
                Piece pc = new Piece(img, j, cols, q0, new Runs(j, cols, wo, stride, wp));
                list.add(pc);
                q0 += pc.panels;
                g += cols;
            }
            return list.toArray(new Piece[0]);
        }
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
    private static void packColumns(float[] xp, int imgBase, int hp, int wp, int kw, int khw, int stride, int k0, int kc,
                                    Runs runs, float[] b, int q0) {
        final int panelStride = kc * NR;
        final int bBase = q0 * panelStride;
        for (int kk = 0; kk < kc; kk++) {
            int kIdx = k0 + kk;
            int ch = kIdx / khw;
            int ky = (kIdx % khw) / kw;
            int kx = kIdx % kw;
            int srcK = imgBase + (ch * hp + ky) * wp + kx;
            int dstK = kk * NR;
            for (int r = 0; r < runs.count; r++) {
                int src = srcK + runs.src[r];
                int dst = bBase + runs.panel[r] * panelStride + dstK + runs.dst[r];
                int len = runs.len[r];
                if (stride == 1) {
                    int i = 0;
                    for (; i + VL <= len; i += VL) FloatVector.fromArray(S, xp, src + i).intoArray(b, dst + i);
                    if (i < len) {
                        VectorMask<Float> m = S.indexInRange(i, len);
                        FloatVector.fromArray(S, xp, src + i, m).intoArray(b, dst + i, m);
                    }
                } else {
                    for (int i = 0; i < len; i++) b[dst + i] = xp[src + i * stride];
                }
            }
        }
    }

    /** B block of a 1x1 convolution: b[q][kk][jj] = x[img, k0 + kk, j0 + jj], read straight from the input. */
    private static void packDirect(MemorySegment x, long base, int pixels, int k0, int kc, int cols, float[] b, int q0) {
        final int panelStride = kc * NR;
        final int bBase = q0 * panelStride;
        for (int kk = 0; kk < kc; kk++) {
            long src = base + (long) (k0 + kk) * pixels;
            for (int jj = 0; jj < cols; jj += NR) {
                int dst = bBase + (jj / NR) * panelStride + kk * NR;
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
