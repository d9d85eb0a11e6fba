package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;

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
 * 3x3 stride-1 convolution by Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray 2015, points 0, ±1, ±2, ∞):
 * every 4x4 block of outputs ("tile") comes from the 6x6 input patch d under it as Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A,
 * 36 multiplications per tile and channel pair instead of 144. Summed over input channels, the element-wise products
 * become 36 independent GEMMs, one per position ξ of the 6x6 transform: M[ξ][O × tiles] = U[ξ][O × C] · V[ξ][C × tiles],
 * run on {@link Microkernel} like {@link Conv2dCpu}: U (the transformed filter, done once per weight and cached) is
 * the packed A operand, V (the transformed input) is written straight into NR-wide B panels.
 *
 * <p>A task owns a block of {@link #TB} tiles (in (image, tile row, tile column) order) and a range of output
 * channels: it transforms its tiles' input (vectorised over tiles, the 6x6 patches read with scalar loads from a
 * zero-padded copy of the input: the Vector API's gathers were slower), runs the 36 GEMMs into a scratch M, and transforms M back into output rows (vectorised over tiles,
 * plus bias). When there are too few tile blocks for the pool the output channels are split too and the input
 * transform runs once beforehand, in its own parallel pass.
 */
final class WinogradCpu {
    private WinogradCpu() {}

    /** Tiles per task: two B panels (32 to 128 measured alike at [2, 320, 64, 64] and [2, 640, 32, 32]). */
    static final int TB = 2 * NR;

    /** {@link #TB}, or {@code -Dpd.cpu.winograd.tiles} (a multiple of NR) when tuning. */
    static int blockTiles() {
        int tb = Integer.getInteger("pd.cpu.winograd.tiles", TB);
        return tb >= NR && tb % NR == 0 ? tb : TB;
    }

    /** The fewest tiles (4x4 outputs, whole batch) worth the transformed filter's memory traffic. */
    static final int MIN_TILES = 32;
    /** Positions of the 6x6 transform. */
    static final int XI = 36;
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** G (6x3), the filter transform of F(4x4, 3x3). */
    private static final double[][] G = {
            {1 / 4.0, 0, 0},
            {-1 / 6.0, -1 / 6.0, -1 / 6.0},
            {-1 / 6.0, 1 / 6.0, -1 / 6.0},
            {1 / 24.0, 1 / 12.0, 1 / 6.0},
            {1 / 24.0, -1 / 12.0, 1 / 6.0},
            {0, 0, 1}};

    /**
     * Whether a convolution of this shape takes the Winograd path: 3x3, stride 1, at least 64 input and output
     * channels, at least half the multiplications of the direct convolution saved (so not for outputs of a few
     * pixels), and at least {@link #MIN_TILES} tiles in the batch: the transformed filter is 4x the size of the
     * weight and is read once per call, so with fewer tiles the GEMMs wait for memory ([2, 1280, 8, 8] measured
     * 1.5x slower than direct). Off by default: the transformed filters are 4x the weights' size, which an SD 1.5
     * UNet pays with about 3 GB more memory (bench/RESULTS.md). System property {@code pd.cpu.winograd}: {@code true}
     * turns it on for the shapes above, {@code always} takes it for every 3x3 stride-1 convolution (to test models
     * through it), anything else leaves it off.
     */
    static boolean applies(int n, int c, int h, int w, int o, int kh, int kw, int stride, int pad) {
        if (kh != 3 || kw != 3 || stride != 1) return false;
        String mode = System.getProperty("pd.cpu.winograd", "false");
        if (!mode.equals("true") && !mode.equals("always")) return false;
        int ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
        if (ho < 1 || wo < 1 || c < 1) return false;
        long tiles = (long) ((ho + 3) / 4) * ((wo + 3) / 4);
        long planes = (long) (4 * ((ho + 3) / 4) + 2) * (4 * ((wo + 3) / 4) + 2);
        if ((long) n * c * planes >= Integer.MAX_VALUE - 64) return false;
        if (mode.equals("always")) return true;
        return c >= 64 && o >= 64 && 2 * XI * tiles <= 9L * ho * wo && n * tiles >= MIN_TILES;
    }

    /**
     * The transformed filter U[ξ][o][c] = (G g[o][c] Gᵀ)[ξ] of a weight [O, C, 3, 3] (f32 at element 0), packed as
     * one A operand of 36·pad(O, MR) rows by C: position ξ's rows are panels ξ·pad(O, MR)/MR onwards.
     */
    static Packed packWeight(Parallel par, MemorySegment w, int o, int c, Arena arena) {
        int oPad = Packed.pad(o, MR);
        float[] u = new float[Math.multiplyExact(XI * oPad, c)]; // [36, oPad, C]
        Parallel.RangeBody body = (o0, o1) -> {
            double[] gg = new double[9];
            double[] t = new double[18];
            for (int oc = (int) o0; oc < o1; oc++) {
                for (int ic = 0; ic < c; ic++) {
                    for (int i = 0; i < 9; i++) gg[i] = w.getAtIndex(F, ((long) oc * c + ic) * 9 + i);
                    for (int a = 0; a < 6; a++) // t = G g   [6, 3]
                        for (int l = 0; l < 3; l++) t[a * 3 + l] = G[a][0] * gg[l] + G[a][1] * gg[3 + l] + G[a][2] * gg[6 + l];
                    for (int a = 0; a < 6; a++) // U = t Gᵀ   [6, 6]
                        for (int b = 0; b < 6; b++) {
                            double s = t[a * 3] * G[b][0] + t[a * 3 + 1] * G[b][1] + t[a * 3 + 2] * G[b][2];
                            u[((a * 6 + b) * oPad + oc) * c + ic] = (float) s;
                        }
                }
            }
        };
        if (par == null) body.run(0, o);
        else par.forRange(o, Math.max(1, (1 << 14) / Math.max(1, c)), body);
        return Packed.pack(par, MemorySegment.ofArray(u), 0, c, 1, XI * oPad, c, MR, arena);
    }

    /**
     * x [N, C, H, W] at element {@code xBase}, transformed weight {@code u} (from {@link #packWeight}) of {@code o}
     * output channels, bias [O] or null, zero padding {@code pad} on every side; out [N, O, H+2p-2, W+2p-2].
     */
    static void conv(Parallel par, MemorySegment x, long xBase, int n, int c, int h, int wd, Packed u, int o, int pad,
                     float[] bias, MemorySegment out) {
        final Shape s = new Shape(n, c, h, wd, o, pad, blockTiles());
        final int tb = s.tb;
        final float[] xp = padded(par, x, xBase, s);
        final int blocks = (int) ((s.tiles + tb - 1) / tb);
        final int panelsO = Packed.pad(o, MR) / MR;
        int oTasks = 1;
        if (blocks < 4 * par.threads()) oTasks = Math.min(panelsO, (4 * par.threads() + blocks - 1) / blocks);
        final int ot = oTasks;
        final int panelsPerTask = (panelsO + ot - 1) / ot;
        final int kc = u.kc();
        final int vSize = XI * c * tb; // one block's V: [36][C blocks][tb / NR panels][kc][NR]
        // few blocks (small images): transform every block's input once, up front, for all its channel-range tasks
        final float[] shared = ot == 1 ? null : sharedV(Math.multiplyExact(blocks, vSize));
        if (shared != null) {
            int cSplit = Math.max(1, Math.min(c / 16, (2 * par.threads() + blocks - 1) / blocks));
            int cPer = (c + cSplit - 1) / cSplit;
            par.forEach(blocks * cSplit, task -> {
                int blk = task / cSplit;
                int c0 = (task % cSplit) * cPer;
                inputTransform(xp, s, blk, c0, Math.min(c, c0 + cPer), kc, shared, blk * vSize);
            });
        }
        par.forEach(blocks * ot, task -> {
            int p0 = (task % ot) * panelsPerTask;
            int p1 = Math.min(panelsO, p0 + panelsPerTask);
            if (p0 >= p1) return;
            int blk = task / ot;
            int t = (int) Math.min(tb, s.tiles - (long) blk * tb);
            float[] v;
            int vo;
            if (shared != null) {
                v = shared;
                vo = blk * vSize;
            } else {
                v = Scratch.get().b(vSize);
                vo = 0;
                inputTransform(xp, s, blk, 0, c, kc, v, 0);
            }
            int rows = (p1 - p0) * MR;
            MemorySegment m = Scratch.get().seg1((long) XI * rows * tb + VL); // [36, rows, tb]
            gemms(u, o, v, vo, c, tb, t, p0, p1, m);
            outputTransform(m, rows, s, blk, t, p0 * MR, Math.min(o, p1 * MR), bias, out);
        });
    }

    /**
     * The calling thread's scratch for every block's V (up to 16 MiB, kept: [2, 1280, 16, 16] needs 12 MiB), or a
     * fresh array. Its {@code c} buffer is free: tasks use {@code b}, {@code seg1} and {@code row}.
     */
    private static float[] sharedV(int n) {
        return n <= SHARED_KEEP ? Scratch.get().c(n) : new float[n];
    }

    private static final int SHARED_KEEP = 4 << 20;

    /** The convolution's geometry: tiles of 4x4 outputs over padded planes of (4·tilesH + 2) x (4·tilesW + 2). */
    static final class Shape {
        final int n, c, h, w, o, pad, ho, wo, tilesH, tilesW, hp, wp, plane, tb;
        final long tiles;

        Shape(int n, int c, int h, int w, int o, int pad, int tb) {
            this.tb = tb;
            this.n = n;
            this.c = c;
            this.h = h;
            this.w = w;
            this.o = o;
            this.pad = pad;
            this.ho = h + 2 * pad - 2;
            this.wo = w + 2 * pad - 2;
            this.tilesH = (ho + 3) / 4;
            this.tilesW = (wo + 3) / 4;
            this.hp = 4 * tilesH + 2;
            this.wp = 4 * tilesW + 2;
            this.plane = hp * wp;
            this.tiles = (long) n * tilesH * tilesW;
        }
    }

    /** The input in planes of hp x wp, {@code pad} zeros above and left, zeros to fill below and right. */
    static float[] padded(Parallel par, MemorySegment x, long xBase, Shape s) {
        int planes = s.n * s.c;
        float[] xp = Scratch.get().padded(Math.multiplyExact(planes, s.plane));
        int rows = Math.min(s.h, s.hp - s.pad);
        int cols = Math.min(s.w, s.wp - s.pad);
        par.forEach(planes, p -> {
            int base = p * s.plane;
            long src = xBase + (long) p * s.h * s.w;
            Arrays.fill(xp, base, base + s.pad * s.wp, 0f);
            for (int y = 0; y < rows; y++) {
                int row = base + (y + s.pad) * s.wp;
                Arrays.fill(xp, row, row + s.pad, 0f);
                MemorySegment.copy(x, F, (src + (long) y * s.w) * 4, xp, row + s.pad, cols);
                Arrays.fill(xp, row + s.pad + cols, row + s.wp, 0f);
            }
            Arrays.fill(xp, base + (s.pad + rows) * s.wp, base + s.plane, 0f);
        });
        return xp;
    }

    /**
     * V = Bᵀ d B for the tiles of block {@code blk} and channels [c0, c1), into B panels at {@code v[vo]}:
     * position ξ, channel ch, tile j at vo + ξ·C·tb + kb·kc·tb + (j / NR)·kcb·NR + kk·NR + j % NR
     * (ch = kb·kc + kk, kcb the length of reduction block kb).
     */
    static void inputTransform(float[] xp, Shape s, int blk, int c0, int c1, int kc, float[] v, int vo) {
        int[] off = new int[s.tb]; // each tile's top-left in xp for channel 0; past the block's end, tile 0's
        long g0 = (long) blk * s.tb;
        int t = (int) Math.min(s.tb, s.tiles - g0);
        int perImage = s.tilesH * s.tilesW;
        for (int j = 0; j < s.tb; j++) {
            long g = g0 + Math.min(j, t - 1);
            int img = (int) (g / perImage), r = (int) (g % perImage);
            off[j] = img * s.c * s.plane + (r / s.tilesW) * 4 * s.wp + (r % s.tilesW) * 4;
        }
        final int xiStride = s.c * s.tb;
        final int wp = s.wp;
        final float[] d = new float[XI * VL];   // the patches d[row][col], a vector of tiles each
        final float[] tmp = new float[XI * VL]; // (Bᵀ d)[row][col]
        for (int ch = c0; ch < c1; ch++) {
            int kb = ch / kc, kk = ch % kc;
            int kcb = Math.min(kc, s.c - kb * kc);
            int cb = ch * s.plane;
            for (int j0 = 0; j0 < t; j0 += VL) {
                int dst = vo + kb * kc * s.tb + (j0 / NR) * kcb * NR + kk * NR + j0 % NR;
                for (int l = 0; l < VL; l++) { // gathered with scalar loads (the Vector API's gathers are slower)
                    int src = cb + off[j0 + l];
                    for (int row = 0; row < 6; row++, src += wp) {
                        int e = row * 6 * VL + l;
                        d[e] = xp[src];
                        d[e + VL] = xp[src + 1];
                        d[e + 2 * VL] = xp[src + 2];
                        d[e + 3 * VL] = xp[src + 3];
                        d[e + 4 * VL] = xp[src + 4];
                        d[e + 5 * VL] = xp[src + 5];
                    }
                }
                for (int col = 0; col < 6; col++) { // Bᵀ d, column by column of the 6x6 patches
                    int e = col * VL;
                    bt(FloatVector.fromArray(S, d, e), FloatVector.fromArray(S, d, e + 6 * VL),
                            FloatVector.fromArray(S, d, e + 12 * VL), FloatVector.fromArray(S, d, e + 18 * VL),
                            FloatVector.fromArray(S, d, e + 24 * VL), FloatVector.fromArray(S, d, e + 30 * VL),
                            tmp, col * VL, 6 * VL);
                }
                for (int row = 0; row < 6; row++) { // (Bᵀ d) B, row by row, each element at its position ξ = 6 row + col
                    int r = row * 6 * VL;
                    bt(FloatVector.fromArray(S, tmp, r), FloatVector.fromArray(S, tmp, r + VL),
                            FloatVector.fromArray(S, tmp, r + 2 * VL), FloatVector.fromArray(S, tmp, r + 3 * VL),
                            FloatVector.fromArray(S, tmp, r + 4 * VL), FloatVector.fromArray(S, tmp, r + 5 * VL),
                            v, dst + row * 6 * xiStride, xiStride);
                }
            }
        }
    }

    /** dst[at + i·step ...] = (Bᵀ d)_i for the column d = (d0..d5) of patches. */
    private static void bt(FloatVector d0, FloatVector d1, FloatVector d2, FloatVector d3, FloatVector d4,
                           FloatVector d5, float[] dst, int at, int step) {
        FloatVector d42 = d4.sub(d2);
        FloatVector d31 = d3.sub(d1);
        d0.sub(d2).mul(4f).add(d42).intoArray(dst, at);                      // 4 d0 - 5 d2 + d4
        d3.add(d4).sub(d1.add(d2).mul(4f)).intoArray(dst, at + step);        // -4 d1 - 4 d2 + d3 + d4
        d4.sub(d3).add(d1.sub(d2).mul(4f)).intoArray(dst, at + 2 * step);    // 4 d1 - 4 d2 - d3 + d4
        d31.mul(2f).add(d42).intoArray(dst, at + 3 * step);                  // -2 d1 - d2 + 2 d3 + d4
        d42.sub(d31.mul(2f)).intoArray(dst, at + 4 * step);                  // 2 d1 - d2 - 2 d3 + d4
        d1.sub(d3).mul(4f).add(d5.sub(d3)).intoArray(dst, at + 5 * step);    // 4 d1 - 5 d3 + d5
    }

    /** M[ξ][r][j] = Σ_c U[ξ][p0·MR + r][c] · V[ξ][c][j] for the task's A panels [p0, p1) and its t tiles. */
    static void gemms(Packed u, int o, float[] v, int vo, int c, int tb, int t, int p0, int p1, MemorySegment m) {
        final int panelsXi = Packed.pad(o, MR) / MR;
        final int rows = (p1 - p0) * MR;
        final int bPanels = (t + NR - 1) / NR;
        for (int xi = 0; xi < XI; xi++) {
            int vXi = vo + xi * c * tb;
            long mXi = (long) xi * rows * tb;
            for (int kb = 0; kb < u.blocks(); kb++) {
                int kcb = u.kcOf(kb);
                int bBase = vXi + kb * u.kc() * tb;
                boolean acc = kb > 0;
                for (int p = p0; p < p1; p++) {
                    int ao = u.offset(kb, xi * panelsXi + p);
                    int mr = Math.min(MR, o - p * MR);
                    long cRow = mXi + (long) (p - p0) * MR * tb;
                    for (int q = 0; q < bPanels; q++) {
                        Microkernel.tile(u.data(), ao, v, bBase + q * kcb * NR, kcb, m, cRow + q * NR, tb,
                                mr, Math.min(NR, t - q * NR), acc, null, 0, null, 0);
                    }
                }
            }
        }
    }

    /**
     * out = Aᵀ M A + bias for output channels [oc0, oc1) of block {@code blk}'s t tiles, one run of tiles along a
     * tile row at a time: 16 tiles per vector, scattered into four output rows in a scratch row, then copied out.
     */
    static void outputTransform(MemorySegment m, int rows, Shape s, int blk, int t, int oc0, int oc1,
                                        float[] bias, MemorySegment out) {
        final long xiStride = (long) rows * s.tb * 4; // bytes
        final int perImage = s.tilesH * s.tilesW;
        final int rowLen = 4 * ((s.tilesW + VL - 1) / VL * VL);
        float[] line = Scratch.get().row(4 * rowLen); // [4 output rows, rowLen]
        float[] tmp = new float[24 * VL]; // (Aᵀ m)[row][col], a vector of tiles each
        float[] y = new float[16 * VL];   // Y[row][col]
        long g0 = (long) blk * s.tb;
        for (int j = 0; j < t; ) {
            long g = g0 + j;
            int img = (int) (g / perImage), r = (int) (g % perImage);
            int ty = r / s.tilesW, tx0 = r % s.tilesW;
            int run = Math.min(t - j, s.tilesW - tx0);
            int x0 = 4 * tx0;
            int cols = Math.min(4 * run, s.wo - x0);
            int yRows = Math.min(4, s.ho - 4 * ty);
            for (int oc = oc0; oc < oc1; oc++) {
                float b = bias == null ? 0f : bias[oc];
                long mBase = ((long) (oc - oc0) * s.tb + j) * 4;
                for (int i0 = 0; i0 < run; i0 += VL) {
                    long mb = mBase + i0 * 4L;
                    for (int col = 0; col < 6; col++) { // Aᵀ m, column by column
                        long mc = mb + col * xiStride;
                        at(FloatVector.fromMemorySegment(S, m, mc, NO),
                                FloatVector.fromMemorySegment(S, m, mc + 6 * xiStride, NO),
                                FloatVector.fromMemorySegment(S, m, mc + 12 * xiStride, NO),
                                FloatVector.fromMemorySegment(S, m, mc + 18 * xiStride, NO),
                                FloatVector.fromMemorySegment(S, m, mc + 24 * xiStride, NO),
                                FloatVector.fromMemorySegment(S, m, mc + 30 * xiStride, NO), 0f, tmp, col * VL, 6 * VL);
                    }
                    for (int row = 0; row < 4; row++) { // (Aᵀ m) A + bias, row by row
                        int tr = row * 6 * VL;
                        at(FloatVector.fromArray(S, tmp, tr), FloatVector.fromArray(S, tmp, tr + VL),
                                FloatVector.fromArray(S, tmp, tr + 2 * VL), FloatVector.fromArray(S, tmp, tr + 3 * VL),
                                FloatVector.fromArray(S, tmp, tr + 4 * VL), FloatVector.fromArray(S, tmp, tr + 5 * VL),
                                b, y, row * 4 * VL, VL);
                    }
                    for (int row = 0; row < 4; row++) { // tile i0 + l's pixel (row, col) to column 4 (i0 + l) + col
                        int e = row * 4 * VL, dst = row * rowLen + 4 * i0;
                        for (int l = 0; l < VL; l++, dst += 4) {
                            line[dst] = y[e + l];
                            line[dst + 1] = y[e + VL + l];
                            line[dst + 2] = y[e + 2 * VL + l];
                            line[dst + 3] = y[e + 3 * VL + l];
                        }
                    }
                }
                long dst = ((long) img * s.o + oc) * s.ho * s.wo + (long) 4 * ty * s.wo + x0;
                for (int row = 0; row < yRows; row++) {
                    MemorySegment.copy(line, row * rowLen, out, F, (dst + (long) row * s.wo) * 4, cols);
                }
            }
            j += run;
        }
    }

    /** dst[at + i·step ...] = (Aᵀ m)_i + b for the column m = (m0..m5). */
    private static void at(FloatVector m0, FloatVector m1, FloatVector m2, FloatVector m3, FloatVector m4,
                           FloatVector m5, float b, float[] dst, int at, int step) {
        FloatVector p12 = m1.add(m2), n12 = m1.sub(m2), p34 = m3.add(m4), n34 = m3.sub(m4);
        m0.add(p12).add(p34).add(b).intoArray(dst, at);                  // m0 + m1 + m2 + m3 + m4
        n12.add(n34.mul(2f)).add(b).intoArray(dst, at + step);           // m1 - m2 + 2 m3 - 2 m4
        p12.add(p34.mul(4f)).add(b).intoArray(dst, at + 2 * step);       // m1 + m2 + 4 m3 + 4 m4
        n12.add(n34.mul(8f)).add(m5).add(b).intoArray(dst, at + 3 * step); // m1 - m2 + 8 m3 - 8 m4 + m5
    }
}
