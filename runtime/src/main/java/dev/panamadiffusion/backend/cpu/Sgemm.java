package dev.panamadiffusion.backend.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static dev.panamadiffusion.backend.cpu.Microkernel.MR;
import static dev.panamadiffusion.backend.cpu.Microkernel.NR;

/**
 * Blocked SGEMM for {@code linear}: C[M, N] = X[M, K] · W^T (+ bias[N]), with W packed once into NR-wide B panels
 * (see {@link WeightCache}); X's rows are the A operand where they lie (copying a block of rows per task cost up to
 * half the time of the small products, where many tasks copy the same rows). Tasks are ranges of blocks of
 * {@link #MC} rows times ranges of column panels, shaped so that the larger operand is read as few times as possible.
 */
final class Sgemm {
    private Sgemm() {}

    static final int MC = 96;
    /** Column panels finished together (a 96 x 256 block of C). */
    static final int QC = 8;

    /** Packs a weight [N, K] (row-major at element {@code base}) as the B operand of x·W^T, into {@code arena}. */
    static Packed packWeightT(Parallel par, MemorySegment w, long base, int n, int k, Arena arena) {
        return packWeightT(par, w, base, n, k, Packed.Format.F32, arena);
    }

    /** As above, stored in {@code format}. */
    static Packed packWeightT(Parallel par, MemorySegment w, long base, int n, int k, Packed.Format format, Arena arena) {
        return Packed.pack(par, w, base, k, 1, n, k, NR, format, arena);
    }

    /**
     * out[m, n] = sum_k x[m, k] * w[n, k] + bias[n]. {@code x} row-major [M, K] at element {@code xBase};
     * {@code out} row-major [M, N]; {@code bias} padded to w.nPad() or null.
     */
    static void linear(Parallel par, MemorySegment x, long xBase, int m, Packed w, float[] bias, MemorySegment out) {
        final int n = w.n();
        final int k = w.k();
        final int rowBlocks = (m + MC - 1) / MC;
        final int panels = w.panels();
        // Task grid: every task re-reads the x rows of its column range and the weight panels of its row range, so
        // split the larger operand's other dimension less: many row tasks when x dominates, many column tasks when
        // the weight does (small batches of tokens through big projections).
        int mTasks, nTasks;
        if ((long) n * k > (long) m * k) {
            nTasks = Math.min(panels, 8 * par.threads());
            mTasks = Math.min(rowBlocks, Math.max(1, (4 * par.threads() + nTasks - 1) / nTasks));
        } else {
            mTasks = rowBlocks;
            nTasks = mTasks >= 4 * par.threads() ? 1 : Math.min(panels, (4 * par.threads() + mTasks - 1) / mTasks);
        }
        final int blocksPerTask = (rowBlocks + mTasks - 1) / mTasks;
        final int panelsPerTask = (panels + nTasks - 1) / nTasks;
        final int nt = nTasks;
        par.forEach(mTasks * nTasks, task -> {
            int q0 = (task % nt) * panelsPerTask;
            int q1 = Math.min(panels, q0 + panelsPerTask);
            int rb0 = (task / nt) * blocksPerTask;
            int rb1 = Math.min(rowBlocks, rb0 + blocksPerTask);
            for (int rb = rb0; rb < rb1 && q0 < q1; rb++) {
                int m0 = rb * MC;
                int rows = Math.min(MC, m - m0);
                // column panels in groups, each finished over all of K before the next: its C block stays in L2
                for (int g0 = q0; g0 < q1; g0 += QC) {
                    int g1 = Math.min(q1, g0 + QC);
                    for (int kb = 0; kb < w.blocks(); kb++) {
                        int kc = w.kcOf(kb);
                        long k0 = xBase + (long) m0 * k + (long) kb * w.kc(); // the block's first row, at this reduction block
                        boolean acc = kb > 0;
                        for (int q = g0; q < g1; q++) {
                            int nr = Math.min(NR, n - q * NR);
                            int bo = w.offset(kb, q);
                            // reduced weights: the panel widened to f32 once, for every row panel of the block
                            float[] bw = w.format() == Packed.Format.F32 ? null : WeightKernels.widenB(w, kb, q, WeightKernels.panelBufferB());
                            for (int p = 0; p * MR < rows; p++) {
                                int mr = Math.min(MR, rows - p * MR);
                                long ao = k0 + (long) p * MR * k;
                                long ci = (long) (m0 + p * MR) * n + q * NR;
                                if (bw == null) Microkernel.tile(x, ao, k, w.data(), bo, kc, out, ci, n, mr, nr, acc, bias, q * NR);
                                else Microkernel.tile(x, ao, k, bw, 0, kc, out, ci, n, mr, nr, acc, bias, q * NR);
                            }
                        }
                    }
                }
            }
        });
    }
}
