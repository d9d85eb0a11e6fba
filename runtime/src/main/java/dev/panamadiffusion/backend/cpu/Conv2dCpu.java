package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;

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
 * pixels, one reduction block at a time, into NR-wide B panels, straight from the input (the padding's zeros
 * written where a window leaves it: no padded copy of the input, which for a VAE decoder plane is hundreds of MB).
 */
final class Conv2dCpu {
    private Conv2dCpu() {}

    /** Output pixels per task. */
    static final int NC = 8 * NR;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    /** Lane j takes lane j/2 (an upsampled run starting on an even column) or (j+1)/2 (on an odd one). */
    private static final VectorShuffle<Float> DUP_EVEN = VectorShuffle.fromOp(S, j -> j >> 1);
    private static final VectorShuffle<Float> DUP_ODD = VectorShuffle.fromOp(S, j -> (j + 1) >> 1);

    /** Packs a weight [O, C, kh, kw] as the A operand, into {@code arena}. */
    static Packed packWeight(Parallel par, MemorySegment w, long base, int o, int k, Arena arena) {
        return packWeight(par, w, base, o, k, Packed.Format.F32, arena);
    }

    /** As above, stored in {@code format}. */
    static Packed packWeight(Parallel par, MemorySegment w, long base, int o, int k, Packed.Format format, Arena arena) {
        return Packed.pack(par, w, base, k, 1, o, k, MR, format, arena);
    }

    /** As below, x not upsampled. */
    static void conv(Parallel par, MemorySegment x, long xBase, int n, int c, int h, int wd, Packed w, int kh, int kw,
                     int stride, int pad, float[] bias, MemorySegment out) {
        conv(par, x, xBase, n, c, h, wd, 1, w, kh, kw, stride, pad, bias, out);
    }

    /**
     * x [N, C, H, W] at element {@code xBase}, upsampled ×{@code up} (nearest; read in place, never made), convolved
     * with the packed weight (O x C*kh*kw), bias padded to w.nPad() or null: out [N, O, Ho, Wo] of the (up·H) x (up·W)
     * input.
     */
    static void conv(Parallel par, MemorySegment x, long xBase, int n, int c, int h, int wd, int up, Packed w, int kh,
                     int kw, int stride, int pad, float[] bias, MemorySegment out) {
        final int o = w.n();
        final int ho = (h * up + 2 * pad - kh) / stride + 1;
        final int wo = (wd * up + 2 * pad - kw) / stride + 1;
        final int pixels = ho * wo;
        final boolean direct = kh == 1 && kw == 1 && stride == 1 && pad == 0 && up == 1;
        // Column chunks: NC output pixels, spanning images when whole panels never straddle two (so a weight block
        // serves every image while in cache), else per image.
        final boolean span = pixels % NR == 0;
        final int perImage = (pixels + NC - 1) / NC;
        final int chunks = span ? (int) (((long) n * pixels + NC - 1) / NC) : n * perImage;
        final int panelsO = w.panels();
        int oTasks = 1;
        // too few chunks for the pool: split the output channels too
        if (chunks < 2 * par.threads()) oTasks = Math.min(panelsO, (2 * par.threads() + chunks - 1) / chunks);
        final int ot = oTasks;
        final int panelsPerTask = (panelsO + ot - 1) / ot;
        final Columns cols = new Columns(x, xBase, c, h, wd, up, kw, kh * kw, stride, pad, direct, pixels);
        Piece[][] piecesOf = null;
        if (ot >= 4) {
            // So few chunks that 4 or more tasks split each one's output channels: pack each chunk's columns once,
            // every reduction block, into one array the tasks share (each task packing its chunk again cost the 8x8
            // planes of SD's UNet a sixth of their time), then the tiles. With 2 or 3 tasks a chunk (the 16x16
            // planes on 2 threads), packing each block just before its tiles, in cache, is faster (0.84-0.89x shared).
            piecesOf = new Piece[chunks][];
            int colPanels = 0;
            for (int chunk = 0; chunk < chunks; chunk++) {
                piecesOf[chunk] = Piece.ofChunk(chunk, span, perImage, n, pixels, wo);
                Piece last = piecesOf[chunk][piecesOf[chunk].length - 1];
                colPanels = Math.max(colPanels, last.q0 + last.panels);
            }
            final int blockFloats = colPanels * NR * w.kc(); // one chunk's B block, at most
            if ((long) chunks * w.blocks() * blockFloats <= SHARED_MAX) {
                shared(par, cols, w, o, bias, out, piecesOf, ot, panelsPerTask, blockFloats);
                return;
            }
        }
        final Piece[][] known = piecesOf; // past the shared array's limit: the pieces made above, else per task
        final int blockFloats = NC * w.kc(); // one chunk's B block, at most
        par.forEach(chunks * ot, task -> {
            int p0 = (task % ot) * panelsPerTask;
            int p1 = Math.min(panelsO, p0 + panelsPerTask);
            if (p0 >= p1) return;
            Piece[] pieces = known != null ? known[task / ot] : Piece.ofChunk(task / ot, span, perImage, n, pixels, wo);
            float[] b = Scratch.get().b(blockFloats);
            for (int kb = 0; kb < w.blocks(); kb++) {
                cols.pack(w, kb, pieces, b, 0);
                tiles(w, kb, p0, p1, pieces, b, 0, o, pixels, bias, out);
            }
        });
    }

    /** The chunks' columns packed once into one array (block kb of chunk i at (i * blocks + kb) * blockFloats), then the tiles. */
    private static void shared(Parallel par, Columns cols, Packed w, int o, float[] bias, MemorySegment out,
                               Piece[][] piecesOf, int ot, int panelsPerTask, int blockFloats) {
        final int chunks = piecesOf.length;
        final int blocks = w.blocks();
        final int panelsO = w.panels();
        final float[] b = Scratch.get().columns(chunks * blocks * blockFloats);
        par.forEach(chunks * blocks, t -> cols.pack(w, t % blocks, piecesOf[t / blocks], b, t * blockFloats));
        par.forEach(chunks * ot, task -> {
            int p0 = (task % ot) * panelsPerTask;
            int p1 = Math.min(panelsO, p0 + panelsPerTask);
            int chunk = task / ot;
            for (int kb = 0; kb < blocks && p0 < p1; kb++) {
                tiles(w, kb, p0, p1, piecesOf[chunk], b, (chunk * blocks + kb) * blockFloats, o, cols.pixels, bias, out);
            }
        });
    }

    /** Floats of the shared column array at most (24 MiB): SD 1.5's 8x8 planes up to 2560 input channels take 12 MiB. */
    private static final int SHARED_MAX = 6 << 20;

    /**
     * The column matrix of a convolution's input, packed a reduction block at a time: x [N, C, H, W] from element
     * {@code xBase}, read upsampled ×{@code up}, under a kw-wide window of {@code khw} taps at {@code stride} and
     * {@code pad}; {@code direct} for a 1x1 window read straight from the input; {@code pixels} output pixels an image.
     */
    private record Columns(MemorySegment x, long xBase, int c, int h, int wd, int up, int kw, int khw, int stride,
                           int pad, boolean direct, int pixels) {
        /** Reduction block kb of a chunk's columns (its pieces) into b from element {@code off}: [panel][kk][jj]. */
        void pack(Packed w, int kb, Piece[] pieces, float[] b, int off) {
            int kc = w.kcOf(kb);
            int k0 = kb * w.kc();
            for (Piece pc : pieces) {
                if (direct) {
                    packDirect(x, xBase + (long) pc.img * c * pixels + pc.j0, pixels, k0, kc, pc.cols, b, off + pc.q0 * kc * NR);
                } else {
                    packColumns(x, xBase + (long) pc.img * c * h * wd, h, wd, up, kw, khw, stride, pad, k0, kc, pc.runs, b,
                            off + pc.q0 * kc * NR);
                }
            }
        }
    }

    /** out (+)= the weight's panels [p0, p1) of reduction block kb times that block's columns, in b from {@code off}. */
    private static void tiles(Packed w, int kb, int p0, int p1, Piece[] pieces, float[] b, int off, int o, int pixels,
                              float[] bias, MemorySegment out) {
        int kc = w.kcOf(kb);
        boolean acc = kb > 0;
        for (int p = p0; p < p1; p++) {
            int ao = w.offset(kb, p);
            int mr = Math.min(MR, o - p * MR);
            // reduced weights: the panel widened to f32 once, for every column panel of the chunk
            float[] aw = w.format() == Packed.Format.F32 ? null : WeightKernels.widenA(w, kb, p, WeightKernels.panelBuffer());
            for (Piece pc : pieces) {
                long outBase = ((long) pc.img * o + (long) p * MR) * pixels + pc.j0;
                for (int q = 0; q < pc.panels; q++) {
                    int bo = off + (pc.q0 + q) * kc * NR;
                    long ci = outBase + (long) q * NR;
                    int nr = Math.min(NR, pc.cols - q * NR);
                    if (aw == null) Microkernel.tile(w.data(), ao, b, bo, kc, out, ci, pixels, mr, nr, acc, bias, p * MR, null, 0);
                    else Microkernel.tile(aw, 0, 1, MR, b, bo, kc, out, ci, pixels, mr, nr, acc, bias, p * MR, null, 0);
                }
            }
        }
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

        /** Column chunk {@code chunk}'s pieces: NC pixels, spanning images ({@code span}) or within one. */
        static Piece[] ofChunk(int chunk, boolean span, int perImage, int n, int pixels, int wo) {
            long j0 = span ? (long) chunk * NC : (long) (chunk / perImage) * pixels + (long) (chunk % perImage) * NC;
            long j1 = span ? Math.min((long) n * pixels, j0 + NC) : Math.min(j0 + NC, (chunk / perImage + 1L) * pixels);
            return split(j0, j1, pixels, wo);
        }

        static Piece[] split(long g0, long g1, int pixels, int wo) {
            java.util.List<Piece> list = new java.util.ArrayList<>(2);
            int q0 = 0;
            for (long g = g0; g < g1; ) {
                int img = (int) (g / pixels);
                int j = (int) (g % pixels);
                int cols = (int) Math.min(g1 - g, pixels - j);
                Piece pc = new Piece(img, j, cols, q0, new Runs(j, cols, wo));
                list.add(pc);
                q0 += pc.panels;
                g += cols;
            }
            return list.toArray(new Piece[0]);
        }
    }

    /** The pieces of a block of output pixels that are contiguous in one output row and one B panel. */
    private static final class Runs {
        final int[] dst;  // offset within a panel row block: (jj / NR) * kc * NR is added per k block
        final int[] panel;
        final int[] oy;   // the run's output row
        final int[] ox;   // and its first output column
        final int[] len;
        final int count;

        Runs(int j0, int cols, int wo) {
            int max = cols + (cols / Math.max(1, wo)) + 2 + cols / NR;
            int[] d = new int[max], p = new int[max], y = new int[max], x = new int[max], l = new int[max];
            int r = 0;
            for (int j = j0, end = j0 + cols; j < end; ) {
                int oy = j / wo;
                int ox = j - oy * wo;
                int jj = j - j0;
                int run = Math.min(Math.min(wo - ox, end - j), NR - jj % NR);
                d[r] = jj % NR;
                p[r] = jj / NR;
                y[r] = oy;
                x[r] = ox;
                l[r] = run;
                r++;
                j += run;
            }
            dst = d;
            panel = p;
            this.oy = y;
            this.ox = x;
            len = l;
            count = r;
        }
    }

    /**
     * B block for reduction [k0, k0 + kc): b[q][kk][jj] = u[img, ch, oy*stride + ky - pad, ox*stride + kx - pad], zero
     * where that is outside the plane, u being x (h x wd planes) upsampled ×{@code up}; {@code imgBase} is the image's
     * first element in {@code x}; the first panel starts at element {@code bBase} of b.
     */
    private static void packColumns(MemorySegment x, long imgBase, int h, int wd, int up, int kw, int khw, int stride,
                                    int pad, int k0, int kc, Runs runs, float[] b, int bBase) {
        final int hu = h * up, wu = wd * up;
        final int panelStride = kc * NR;
        for (int kk = 0; kk < kc; kk++) {
            int kIdx = k0 + kk;
            int ch = kIdx / khw;
            int ky = (kIdx % khw) / kw;
            int kx = kIdx % kw;
            long plane = imgBase + (long) ch * h * wd;
            int dstK = kk * NR;
            for (int r = 0; r < runs.count; r++) {
                int dst = bBase + runs.panel[r] * panelStride + dstK + runs.dst[r];
                int len = runs.len[r];
                int iy = runs.oy[r] * stride + ky - pad;
                if (iy < 0 || iy >= hu) {
                    Arrays.fill(b, dst, dst + len, 0f);
                    continue;
                }
                long row = plane + (long) (iy / up) * wd;
                int ix0 = runs.ox[r] * stride + kx - pad; // input column of the run's first output
                if (up == 2 && stride == 1) {
                    // as below, each input column read twice: VL/2 inputs duplicated into VL lanes by one shuffle
                    int lead = Math.min(len, Math.max(0, -ix0));
                    int end = Math.max(lead, Math.min(len, wu - ix0));
                    if (lead > 0) Arrays.fill(b, dst, dst + lead, 0f);
                    int i = lead;
                    VectorShuffle<Float> dup = ((ix0 + lead) & 1) == 0 ? DUP_EVEN : DUP_ODD;
                    long src = row + ((ix0 + lead) >> 1), limit = x.byteSize() / 4 - VL;
                    for (; i + VL <= end && src <= limit; i += VL, src += VL / 2) {
                        FloatVector.fromMemorySegment(S, x, src * 4, NO).rearrange(dup).intoArray(b, dst + i);
                    }
                    for (; i < end; i++) b[dst + i] = x.getAtIndex(F, row + ((ix0 + i) >> 1));
                    if (end < len) Arrays.fill(b, dst + end, dst + len, 0f);
                } else if (stride == 1 && up == 1) {
                    // [0, lead) left of the plane, [lead, end) inside it, [end, len) right of it
                    int lead = Math.min(len, Math.max(0, -ix0));
                    int end = Math.max(lead, Math.min(len, wd - ix0));
                    if (lead > 0) Arrays.fill(b, dst, dst + lead, 0f);
                    long src = (row + ix0) * 4L;
                    int i = lead;
                    for (; i + VL <= end; i += VL) FloatVector.fromMemorySegment(S, x, src + i * 4L, NO).intoArray(b, dst + i);
                    if (i < end) {
                        VectorMask<Float> m = S.indexInRange(i, end);
                        FloatVector.fromMemorySegment(S, x, src + i * 4L, NO, m).intoArray(b, dst + i, m);
                    }
                    if (end < len) Arrays.fill(b, dst + end, dst + len, 0f);
                } else {
                    for (int i = 0; i < len; i++) {
                        int ix = ix0 + i * stride;
                        b[dst + i] = ix >= 0 && ix < wu ? x.getAtIndex(F, row + ix / up) : 0f;
                    }
                }
            }
        }
    }

    /**
     * B block of a 1x1 convolution: b[q][kk][jj] = x[img, k0 + kk, j0 + jj], read straight from the input; the first
     * panel starts at element {@code bBase} of b.
     */
    private static void packDirect(MemorySegment x, long base, int pixels, int k0, int kc, int cols, float[] b, int bBase) {
        final int panelStride = kc * NR;
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
