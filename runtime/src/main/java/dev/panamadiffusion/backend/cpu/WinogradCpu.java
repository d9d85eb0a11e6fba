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
 * 3x3 stride-1 convolution by Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray 2015, points 0, ±1, ±2, ∞), or
 * F(2x2, 3x3) ({@link Winograd23}, the same driver with 16 positions) on planes with too few 4x4 tiles:
 * every 4x4 block of outputs ("tile") comes from the 6x6 input patch d under it as Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A,
 * 36 multiplications per tile and channel pair instead of 144. Summed over input channels, the element-wise products
 * become 36 independent GEMMs, one per position ξ of the 6x6 transform: M[ξ][O × tiles] = U[ξ][O × C] · V[ξ][C × tiles],
 * run on {@link Microkernel} like {@link Conv2dCpu}: U (the transformed filter) is the packed A operand, V (the
 * transformed input) is written straight into NR-wide B panels.
 *
 * <p>U is 4x the size of the weight (16/9 for F(2x2, 3x3)), so it is never kept: a call takes the tiles in groups whose V fits its scratch
 * ({@link #V_FLOATS}) and transforms each group's input once (in parallel over blocks of {@link #TB} tiles and
 * channel ranges), then takes the output channels in chunks whose U fits ({@link #U_FLOATS}): it transforms the
 * chunk's filters from the weight as the direct convolution packs it (one A panel per task), and runs the 36 (16) GEMMs of
 * each (tile block, range of the chunk's panels) into a scratch M, transformed back into output rows (vectorised over
 * tiles, plus bias). The filters are transformed once per group: the whole weight once for all but the largest
 * images. The 6x6 patches are read with scalar loads from a zero-padded copy of the input (the Vector API's gathers
 * were slower).
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

    /**
     * The fewest tiles of one image worth transforming the filters for: each call transforms every filter (about 16 ns
     * each on one core for F(4x4, 3x3)), which [2, 640, 32, 32] (128 tiles) and [1, 640, 32, 32] (64) repay (1.35x and
     * 1.26x faster than direct) and [2, 1280, 16, 16] (32 tiles of 4x4) does not (0.9x; bench/RESULTS.md), where its
     * 64 tiles an image of 2x2 outputs take F(2x2, 3x3) instead. Counted per image,
     * not over the batch: Winograd and the direct convolution round differently, and an image must come out the same
     * bits whether a server ran it alone or batched with other requests.
     */
    static final int MIN_TILES = 64;
    /** Positions of the 6x6 transform. */
    static final int XI = 36;
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /**
     * Whether a convolution of this shape takes the Winograd path: 3x3, stride 1, at least 64 input and output
     * channels, at least half the multiplications of the direct convolution saved (so not for outputs of a few
     * pixels), and at least {@link #MIN_TILES} tiles an image ({@link #tileSize}: of 4x4 outputs, else of 2x2): the
     * transformed filters (4x the weight for F(4x4, 3x3), 16/9 for F(2x2, 3x3)) are made and read once per call, so
     * with fewer tiles the GEMMs wait for memory ([2, 1280, 8, 8] measured 1.5x slower than direct). On by default;
     * system property {@code pd.cpu.winograd}: {@code false} turns it off, {@code always} takes it for every 3x3
     * stride-1 convolution (to test models through it); {@code pd.cpu.winograd23=false} keeps F(2x2, 3x3) off.
     */
    static boolean applies(int n, int c, int h, int w, int o, int kh, int kw, int stride, int pad) {
        if (kh != 3 || kw != 3 || stride != 1) return false;
        String mode = System.getProperty("pd.cpu.winograd", "true");
        if (mode.equals("false")) return false;
        int ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
        if (ho < 1 || wo < 1 || c < 1) return false;
        int m = tileSize(h, w, pad);
        long tiles = (long) ((ho + m - 1) / m) * ((wo + m - 1) / m);
        long planes = (long) (m * ((ho + m - 1) / m) + 2) * (m * ((wo + m - 1) / m) + 2);
        if ((long) n * c * planes >= Integer.MAX_VALUE - 64) return false;
        if (mode.equals("always")) return true;
        if (m == 2 && !Boolean.parseBoolean(System.getProperty("pd.cpu.winograd23", "true"))) return false;
        return c >= 64 && o >= 64 && 2L * (m + 2) * (m + 2) * tiles <= 9L * ho * wo && tiles >= MIN_TILES;
    }

    /**
     * The tile size for an input of h x w padded by {@code pad}: 4 (F(4x4, 3x3)) where an image has at least
     * {@link #MIN_TILES} tiles of 4x4 outputs, else 2 (F(2x2, 3x3): SD 1.5's 16x16 level at 512x512). Per image, as
     * MIN_TILES.
     */
    static int tileSize(int h, int w, int pad) {
        int ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
        return (long) ((ho + 3) / 4) * ((wo + 3) / 4) >= MIN_TILES ? 4 : 2;
    }

    /**
     * Floats of transformed input (V) made at a time: the tiles are taken in groups whose V fits, each group's input
     * transformed once for all output channels (48 MiB, the calling thread's scratch: [2, 1920, 32, 32], an SD 1.5 up
     * block's, in one group).
     */
    static final int V_FLOATS = 12 << 20;
    /**
     * Floats of transformed filters (U) made at a time: the output channels are taken in chunks whose U fits, each
     * chunk's filters transformed from the packed weight just before its GEMMs (16 MiB, the calling thread's scratch).
     */
    static final long U_FLOATS = 4L << 20;
    /**
     * Floats of padded input made at a time: a plane set larger than this (a VAE decoder's 512x512 planes: 135 MB at
     * 128 channels) is padded one band of rows at a time, each group of tiles reading its own band, so that the input
     * copy fits the calling thread's kept scratch ({@link Scratch#padded}) instead of a fresh heap array per call
     * (those grew the heap to 1.1 GB in a VAE decode).
     */
    static final int BAND_FLOATS = Scratch.PADDED_KEEP;

    /**
     * x [N, C, H, W] at element {@code xBase}, the weight [O, C, 3, 3] packed for the direct convolution ({@code w},
     * {@link Conv2dCpu#packWeight}, f32, O x 9C), bias [O] or null, zero padding {@code pad} on every side;
     * out [N, O, H+2p-2, W+2p-2]. No transformed filter is kept: each call transforms the filters it needs from
     * {@code w}, a chunk of output channels at a time, so a model's weights take the same memory as for the direct
     * convolution.
     */
    static void conv(Parallel par, MemorySegment x, long xBase, int n, int c, int h, int wd, Packed w, int o, int pad,
                     float[] bias, MemorySegment out) {
        conv(par, x, xBase, n, c, h, wd, 1, w, o, pad, bias, out, V_FLOATS, U_FLOATS);
    }

    /**
     * As above for x [N, C, H/up, W/up] upsampled ×{@code up} (nearest; h and wd the upsampled size, multiples of up),
     * read in place as the input is padded: the upsampled input is never made.
     */
    static void conv(Parallel par, MemorySegment x, long xBase, int n, int c, int h, int wd, int up, Packed w, int o, int pad,
                     float[] bias, MemorySegment out) {
        conv(par, x, xBase, n, c, h, wd, up, w, o, pad, bias, out, V_FLOATS, U_FLOATS);
    }

    /** As above with the scratch budgets given (tests take small ones to run many groups and chunks). */
    static void conv(Parallel par, MemorySegment x, long xBase, int n, int c, int h, int wd, int up, Packed w, int o, int pad,
                     float[] bias, MemorySegment out, int vFloats, long uFloats) {
        conv(par, x, xBase, n, c, h, wd, up, w, o, pad, bias, out, vFloats, uFloats, tileSize(h, wd, pad));
    }

    /** As above with the tile size given: 4 for F(4x4, 3x3), 2 for F(2x2, 3x3). */
    static void conv(Parallel par, MemorySegment x, long xBase, int n, int c, int h, int wd, int up, Packed w, int o, int pad,
                     float[] bias, MemorySegment out, int vFloats, long uFloats, int tile) {
        conv(par, x, xBase, n, c, h, wd, up, w, o, pad, bias, out, vFloats, uFloats, tile, BAND_FLOATS);
    }

    /** As above with the padded input's budget given (tests take small ones to pad in many bands). */
    static void conv(Parallel par, MemorySegment x, long xBase, int n, int c, int h, int wd, int up, Packed w, int o, int pad,
                     float[] bias, MemorySegment out, int vFloats, long uFloats, int tile, int bandFloats) {
        if (tile != 2 && tile != 4) throw new IllegalArgumentException("Winograd tiles of " + tile + "x" + tile);
        if (up < 1 || h % up != 0 || wd % up != 0) throw new IllegalArgumentException("upsampling " + up + " of " + h + "x" + wd);
        if (w.format() != Packed.Format.F32 || w.width() != MR || w.n() != o || w.k() != 9 * c) {
            throw new IllegalArgumentException("Winograd wants the f32 packed weight of [" + o + ", " + c + ", 3, 3], got "
                    + w.format() + " " + w.n() + " x " + w.k() + " of width " + w.width());
        }
        final Shape s = new Shape(n, c, h, wd, o, pad, blockTiles(), tile);
        final int xi = s.xi;
        final int tb = s.tb;
        final int threads = par.threads();
        final int blocks = (int) ((s.tiles + tb - 1) / tb);
        final int vSize = xi * c * tb; // one block's V: [xi][C blocks][tb / NR panels][kc][NR]
        int groups = (int) Math.max(1, Math.min(blocks, ((long) blocks * vSize + vFloats - 1) / vFloats));
        final boolean banded = (long) c * s.n * s.hp * s.wp > bandFloats;
        if (banded) { // a group's tiles span at most one tile row more than they fill
            long tileRows = ((long) bandFloats / ((long) c * s.wp) - 2) / s.m - 1;
            long perBand = Math.max(1, tileRows * s.tilesW / tb);
            groups = (int) Math.max(groups, Math.min(blocks, (blocks + perBand - 1) / perBand));
        }
        final int perGroup = (blocks + groups - 1) / groups; // tile blocks per group, evened out
        Band whole = banded ? null : padRows(par, x, xBase, s, up, 0, s.n * s.hp);
        final float[] v = Scratch.get().c(Math.multiplyExact(perGroup, vSize));
        final int kc = Packed.blockK(c); // U's reduction blocks, and so V's
        final int panelsO = Packed.pad(o, MR) / MR;
        int chunk = (int) Math.max(1, Math.min(panelsO, uFloats / ((long) xi * MR * c))); // A panels per chunk
        if (chunk > threads && chunk < panelsO) chunk = chunk / threads * threads; // whole rounds of tasks
        final int chunkPanels = chunk;
        final MemorySegment uSeg = Scratch.get().winogradU((long) xi * chunkPanels * MR * c);
        for (int b0 = 0; b0 < blocks; b0 += perGroup) {
            final int first = b0, nb = Math.min(perGroup, blocks - b0);
            final Band xp = banded ? bandFor(par, x, xBase, s, up, first, nb) : whole;
            int cSplit = Math.max(1, Math.min(c / 16, (2 * threads + nb - 1) / nb));
            int cPer = (c + cSplit - 1) / cSplit;
            par.forEach(nb * cSplit, task -> {
                int bl = task / cSplit, c0 = (task % cSplit) * cPer;
                if (c0 >= c) return;
                if (tile == 2) Winograd23.inputTransform(xp, s, first + bl, c0, Math.min(c, c0 + cPer), kc, v, bl * vSize);
                else inputTransform(xp, s, first + bl, c0, Math.min(c, c0 + cPer), kc, v, bl * vSize);
            });
            for (int q0 = 0; q0 < panelsO; q0 += chunkPanels) {
                final int np = Math.min(chunkPanels, panelsO - q0);
                final int ocA = q0 * MR, ocB = Math.min(o, (q0 + np) * MR);
                final Packed u = new Packed(uSeg, xi * np * MR, xi * np * MR, c, kc, MR);
                final int wq = q0;
                par.forEach(np, p -> {
                    if (tile == 2) Winograd23.transformPanel(w, wq + p, c, u, p, np);
                    else transformPanel(w, wq + p, c, u, p, np);
                });
                int ot = nb >= 4 * threads ? 1 : Math.min(np, (4 * threads + nb - 1) / nb);
                final int per = (np + ot - 1) / ot;
                final int tasksO = (np + per - 1) / per;
                par.forEach(nb * tasksO, task -> {
                    int p0 = (task % tasksO) * per, p1 = Math.min(np, p0 + per);
                    int bl = task / tasksO, blk = first + bl;
                    int t = (int) Math.min(tb, s.tiles - (long) blk * tb);
                    int rows = (p1 - p0) * MR;
                    MemorySegment m = Scratch.get().seg1((long) xi * rows * tb + VL); // [xi, rows, tb]
                    gemms(u, ocB - ocA, v, bl * vSize, c, tb, t, p0, p1, m, xi);
                    if (tile == 2) Winograd23.outputTransform(m, rows, s, blk, t, ocA + p0 * MR, Math.min(ocB, ocA + p1 * MR), bias, out);
                    else outputTransform(m, rows, s, blk, t, ocA + p0 * MR, Math.min(ocB, ocA + p1 * MR), bias, out);
                });
            }
        }
    }

    /**
     * U = G g Gᵀ for the MR output channels of the weight's A panel {@code wPanel} and every input channel, into panel
     * {@code p} of each position's {@code np} panels of {@code u} (rows ξ·np·MR + p·MR + r). The weight's padding rows
     * are zeros, and so are their transforms. In f32, with G's structure (rows 1/4, -(a ± b + c)/6,
     * a/24 ± b/12 + c/6, c), and vectorised over the panel's MR rows (the lanes past them ignored; the weight's panels hold an
     * input channel's 3x3 as 9 runs of MR rows): one reduction block at a time into a scratch whose positions are not
     * a multiple of 4 KiB apart (36 streams that far apart alias in the L1 cache: 5x slower), then copied out whole.
     * About 15 ns per filter on one core (AVX-512): the whole transform is redone at each call, which pays where a
     * filter serves 64 or more tiles ({@link #MIN_TILES}).
     */
    static void transformPanel(Packed w, int wPanel, int c, Packed u, int p, int np) {
        final float[] g = new float[9 * VL];  // one input channel's 3x3 for the panel's rows: g[i·VL + r]
        final float[] t = new float[18 * VL]; // G g: t[(a·3 + l)·VL + r]
        final int stride = u.kc() * MR + VL;
        final float[] st = Scratch.get().row(XI * stride); // one block's U for panel p: st[ξ·stride + kk·MR + r]
        final Taps taps = new Taps(w, wPanel);
        for (int ukb = 0; ukb < u.blocks(); ukb++) {
            final int ukcb = u.kcOf(ukb);
            for (int ukk = 0; ukk < ukcb; ukk++) {
                taps.next(g);
                for (int l = 0; l < 3; l++) { // t = G g, a column of g at a time
                    six(FloatVector.fromArray(S, g, l * VL), FloatVector.fromArray(S, g, (3 + l) * VL),
                            FloatVector.fromArray(S, g, (6 + l) * VL), t, l * VL, 3 * VL);
                }
                for (int a = 0; a < 6; a++) { // U = t Gᵀ, a row of t at a time: positions 6a .. 6a + 5
                    six(FloatVector.fromArray(S, t, 3 * a * VL), FloatVector.fromArray(S, t, (3 * a + 1) * VL),
                            FloatVector.fromArray(S, t, (3 * a + 2) * VL), st, 6 * a * stride + ukk * MR, stride);
                }
            }
            storeBlock(st, stride, XI, u, ukb, p, np);
        }
    }

    /** A weight panel's 3x3 filters, one input channel at a time, in the direct convolution's packing. */
    static final class Taps {
        private final Packed w;
        private final int panel;
        private final long end;
        private int kb, kk, kcb;
        private long base;

        Taps(Packed w, int panel) {
            this.w = w;
            this.panel = panel;
            this.end = w.data().byteSize();
            this.kcb = w.kcOf(0);
            this.base = w.offset(0, panel);
        }

        /** The next input channel's 9 taps for the panel's MR rows into g[i·VL + r] (the lanes past MR: whatever). */
        void next(float[] g) {
            MemorySegment wd = w.data();
            for (int i = 0; i < 9; i++) {
                long at = (base + (long) kk * MR) * 4; // VL lanes readable but at the weight's very end
                (at + 4L * VL <= end ? FloatVector.fromMemorySegment(S, wd, at, NO)
                        : FloatVector.fromMemorySegment(S, wd, at, NO, ROWS)).intoArray(g, i * VL);
                if (++kk == kcb && ++kb < w.blocks()) {
                    kk = 0;
                    kcb = w.kcOf(kb);
                    base = w.offset(kb, panel);
                }
            }
        }
    }

    /** Reduction block ukb of panel p's U, st[ξ·stride + kk·MR + r] for {@code positions} ξ, into u (np panels a position). */
    static void storeBlock(float[] st, int stride, int positions, Packed u, int ukb, int p, int np) {
        final int len = u.kcOf(ukb) * MR; // one position's panel p in this block
        final long xiStep = (long) np * len; // from one position's panel p to the next's
        final long uBlock = u.offset(ukb, p);
        for (int xi = 0; xi < positions; xi++) MemorySegment.copy(st, xi * stride, u.data(), F, (uBlock + xi * xiStep) * 4, len);
    }

    /**
     * The lanes of a weight panel's rows ({@link Microkernel#MR} of a vector of the preferred species: the rest
     * ignored, or masked off. A second species in the process (8 lanes would do) made the other kernels' vector code
     * 2.5x slower: their JDK call sites saw two vector classes).
     */
    static final jdk.incubator.vector.VectorMask<Float> ROWS = S.indexInRange(0, MR);

    /**
     * dst[at + i·step ...] = (G (a, b, c)ᵀ)_i, i < 6, for VL lanes (those past MR land on the next input channel's
     * rows, written after, or on the scratch's padding).
     */
    private static void six(FloatVector a, FloatVector b, FloatVector c, float[] dst, int at, int step) {
        FloatVector p = a.add(c), q = a.mul(1 / 24f).add(c.mul(1 / 6f)), r = b.mul(1 / 12f);
        a.mul(0.25f).intoArray(dst, at);
        p.add(b).mul(-1 / 6f).intoArray(dst, at + step);
        p.sub(b).mul(-1 / 6f).intoArray(dst, at + 2 * step);
        q.add(r).intoArray(dst, at + 3 * step);
        q.sub(r).intoArray(dst, at + 4 * step);
        c.intoArray(dst, at + 5 * step);
    }

    /**
     * The convolution's geometry: tiles of m x m outputs (4: F(4x4, 3x3); 2: F(2x2, 3x3)) over padded planes of
     * (m·tilesH + 2) x (m·tilesW + 2), {@code xi} positions of the (m + 2) x (m + 2) transform.
     */
    static final class Shape {
        final int n, c, h, w, o, pad, ho, wo, m, xi, tilesH, tilesW, hp, wp, tb;
        final long tiles;

        Shape(int n, int c, int h, int w, int o, int pad, int tb) { this(n, c, h, w, o, pad, tb, 4); }

        Shape(int n, int c, int h, int w, int o, int pad, int tb, int m) {
            this.m = m;
            this.xi = (m + 2) * (m + 2);
            this.tb = tb;
            this.n = n;
            this.c = c;
            this.h = h;
            this.w = w;
            this.o = o;
            this.pad = pad;
            this.ho = h + 2 * pad - 2;
            this.wo = w + 2 * pad - 2;
            this.tilesH = (ho + m - 1) / m;
            this.tilesW = (wo + m - 1) / m;
            this.hp = m * tilesH + 2;
            this.wp = m * tilesW + 2;
            this.tiles = (long) n * tilesH * tilesW;
        }
    }

    /**
     * Rows [r0, r0 + rows) of the padded input for every channel, the images' padded planes stacked (image i's row y is
     * row i·hp + y): xp[ch·rows·wp + (row - r0)·wp + col].
     */
    record Band(float[] xp, int r0, int rows) {}

    /** The stacked padded row where tile {@code g}'s patch starts. */
    static int patchRow(Shape s, long g) {
        long tileRow = g / s.tilesW; // image · tilesH + the tile's row
        return (int) (tileRow / s.tilesH * s.hp + tileRow % s.tilesH * s.m);
    }

    /** The band the tiles of blocks [first, first + nb) read. */
    static Band bandFor(Parallel par, MemorySegment x, long xBase, Shape s, int up, int first, int nb) {
        long last = Math.min(s.tiles, (long) (first + nb) * s.tb) - 1;
        return padRows(par, x, xBase, s, up, patchRow(s, (long) first * s.tb), patchRow(s, last) + s.m + 2);
    }

    /**
     * Stacked rows [r0, r1) of the input in planes of hp x wp, {@code pad} zeros above and left, zeros to fill below
     * and right; an input of (H/up) x (W/up) upsampled ×{@code up} (nearest) on the way, so the upsampled input is never
     * made.
     */
    static Band padRows(Parallel par, MemorySegment x, long xBase, Shape s, int up, int r0, int r1) {
        final int rows = r1 - r0, plane = rows * s.wp;
        final float[] xp = Scratch.get().padded(Math.multiplyExact(s.c, plane));
        final int valid = Math.min(s.h, s.hp - s.pad); // padded rows pad .. pad + valid - 1 hold input rows
        final int cols = Math.min(s.w, s.wp - s.pad);
        final int sh = s.h / up, sw = s.w / up, srcCols = (cols + up - 1) / up; // the source plane, and what a row reads
        par.forEach(s.c, ch -> {
            float[] line = up == 1 ? null : new float[srcCols];
            for (int r = r0; r < r1; r++) {
                int img = r / s.hp, y = r % s.hp - s.pad;
                int row = ch * plane + (r - r0) * s.wp;
                if (y < 0 || y >= valid) {
                    Arrays.fill(xp, row, row + s.wp, 0f);
                    continue;
                }
                Arrays.fill(xp, row, row + s.pad, 0f);
                long from = (xBase + (((long) img * s.c + ch) * sh + y / up) * sw) * 4;
                if (up == 1) {
                    MemorySegment.copy(x, F, from, xp, row + s.pad, cols);
                } else { // nearest: each source pixel up times along the row, each source row up times
                    MemorySegment.copy(x, F, from, line, 0, srcCols);
                    for (int i = 0; i < cols; i++) xp[row + s.pad + i] = line[i / up];
                }
                Arrays.fill(xp, row + s.pad + cols, row + s.wp, 0f);
            }
        });
        return new Band(xp, r0, rows);
    }

    /**
     * V = Bᵀ d B for the tiles of block {@code blk} and channels [c0, c1), into B panels at {@code v[vo]}:
     * position ξ, channel ch, tile j at vo + ξ·C·tb + kb·kc·tb + (j / NR)·kcb·NR + kk·NR + j % NR
     * (ch = kb·kc + kk, kcb the length of reduction block kb).
     */
    static void inputTransform(Band band, Shape s, int blk, int c0, int c1, int kc, float[] v, int vo) {
        final float[] xp = band.xp();
        final int plane = band.rows() * s.wp;
        int[] off = origins(s, blk, band.r0());
        int t = (int) Math.min(s.tb, s.tiles - (long) blk * s.tb);
        final int xiStride = s.c * s.tb;
        final int wp = s.wp;
        final float[] d = new float[XI * VL];   // the patches d[row][col], a vector of tiles each
        final float[] tmp = new float[XI * VL]; // (Bᵀ d)[row][col]
        for (int ch = c0; ch < c1; ch++) {
            int kb = ch / kc, kk = ch % kc;
            int kcb = Math.min(kc, s.c - kb * kc);
            int cb = ch * plane;
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

    /**
     * Each tile of block {@code blk}: its patch's top-left in channel 0 of a band starting at stacked row {@code r0};
     * past the block's end, its last tile's.
     */
    static int[] origins(Shape s, int blk, int r0) {
        int[] off = new int[s.tb];
        long g0 = (long) blk * s.tb;
        int t = (int) Math.min(s.tb, s.tiles - g0);
        for (int j = 0; j < s.tb; j++) {
            long g = g0 + Math.min(j, t - 1);
            off[j] = (patchRow(s, g) - r0) * s.wp + (int) (g % s.tilesW) * s.m;
        }
        return off;
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
    static void gemms(Packed u, int o, float[] v, int vo, int c, int tb, int t, int p0, int p1, MemorySegment m, int positions) {
        final int panelsXi = Packed.pad(o, MR) / MR;
        final int rows = (p1 - p0) * MR;
        final int bPanels = (t + NR - 1) / NR;
        for (int xi = 0; xi < positions; xi++) {
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
