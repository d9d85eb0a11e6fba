package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.panamadiffusion.backend.cpu.Microkernel.MR;
import static dev.panamadiffusion.backend.cpu.Microkernel.NR;
import static dev.panamadiffusion.backend.cpu.Microkernel.S;
import static dev.panamadiffusion.backend.cpu.Microkernel.VL;

/**
 * The transforms of Winograd's F(2x2, 3x3) for {@link WinogradCpu} (Lavin and Gray 2015, points 0, ±1, ∞): every 2x2
 * block of outputs comes from the 4x4 input patch d under it as Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A, 16 multiplications
 * per tile and channel pair instead of 36, with
 * <pre>
 *   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]   Aᵀ = [1 1 1 0; 0 1 -1 -1]
 * </pre>
 * (every coefficient exact in f32). It serves planes with too few 4x4 tiles to repay F(4x4, 3x3)'s filters, 4x the
 * weight, transformed at each call (SD's 16x16 level): its filters are 16/9 of the weight. The driver, the GEMMs and the
 * layouts are {@link WinogradCpu}'s, with 16 positions ξ = 4·row + col instead of 36.
 */
final class Winograd23 {
    private Winograd23() {}

    /** Positions of the 4x4 transform. */
    static final int XI = 16;
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** As {@link WinogradCpu#transformPanel}, U = G g Gᵀ at 16 positions. */
    static void transformPanel(Packed w, int wPanel, int c, Packed u, int p, int np) {
        final float[] g = new float[9 * VL];  // one input channel's 3x3 for the panel's rows: g[i·VL + r]
        final float[] t = new float[12 * VL]; // G g: t[(a·3 + l)·VL + r]
        final int stride = u.kc() * MR + VL;
        final float[] st = Scratch.get().row(XI * stride); // one block's U for panel p: st[ξ·stride + kk·MR + r]
        final WinogradCpu.Taps taps = new WinogradCpu.Taps(w, wPanel);
        for (int ukb = 0; ukb < u.blocks(); ukb++) {
            final int ukcb = u.kcOf(ukb);
            for (int ukk = 0; ukk < ukcb; ukk++) {
                taps.next(g);
                for (int l = 0; l < 3; l++) { // t = G g, a column of g at a time
                    four(FloatVector.fromArray(S, g, l * VL), FloatVector.fromArray(S, g, (3 + l) * VL),
                            FloatVector.fromArray(S, g, (6 + l) * VL), t, l * VL, 3 * VL);
                }
                for (int a = 0; a < 4; a++) { // U = t Gᵀ, a row of t at a time: positions 4a .. 4a + 3
                    four(FloatVector.fromArray(S, t, 3 * a * VL), FloatVector.fromArray(S, t, (3 * a + 1) * VL),
                            FloatVector.fromArray(S, t, (3 * a + 2) * VL), st, 4 * a * stride + ukk * MR, stride);
                }
            }
            WinogradCpu.storeBlock(st, stride, XI, u, ukb, p, np);
        }
    }

    /** dst[at + i·step ...] = (G (a, b, c)ᵀ)_i, i < 4. */
    private static void four(FloatVector a, FloatVector b, FloatVector c, float[] dst, int at, int step) {
        FloatVector h = a.add(c).mul(0.5f), hb = b.mul(0.5f);
        a.intoArray(dst, at);
        h.add(hb).intoArray(dst, at + step);
        h.sub(hb).intoArray(dst, at + 2 * step);
        c.intoArray(dst, at + 3 * step);
    }

    /** As {@link WinogradCpu#inputTransform}: V = Bᵀ d B of 4x4 patches two apart, 16 positions. */
    static void inputTransform(WinogradCpu.Band band, WinogradCpu.Shape s, int blk, int c0, int c1, int kc, float[] v, int vo) {
        final float[] xp = band.xp();
        final int plane = band.rows() * s.wp;
        int[] off = WinogradCpu.origins(s, blk, band.r0());
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
                for (int l = 0; l < VL; l++) {
                    int src = cb + off[j0 + l];
                    for (int row = 0; row < 4; row++, src += wp) {
                        int e = row * 4 * VL + l;
                        d[e] = xp[src];
                        d[e + VL] = xp[src + 1];
                        d[e + 2 * VL] = xp[src + 2];
                        d[e + 3 * VL] = xp[src + 3];
                    }
                }
                for (int col = 0; col < 4; col++) { // Bᵀ d, column by column
                    int e = col * VL;
                    bt(FloatVector.fromArray(S, d, e), FloatVector.fromArray(S, d, e + 4 * VL),
                            FloatVector.fromArray(S, d, e + 8 * VL), FloatVector.fromArray(S, d, e + 12 * VL),
                            tmp, col * VL, 4 * VL);
                }
                for (int row = 0; row < 4; row++) { // (Bᵀ d) B, row by row, at positions ξ = 4 row + col
                    int r = row * 4 * VL;
                    bt(FloatVector.fromArray(S, tmp, r), FloatVector.fromArray(S, tmp, r + VL),
                            FloatVector.fromArray(S, tmp, r + 2 * VL), FloatVector.fromArray(S, tmp, r + 3 * VL),
                            v, dst + row * 4 * xiStride, xiStride);
                }
            }
        }
    }

    /** dst[at + i·step ...] = (Bᵀ d)_i for the column d = (d0..d3). */
    private static void bt(FloatVector d0, FloatVector d1, FloatVector d2, FloatVector d3, float[] dst, int at, int step) {
        d0.sub(d2).intoArray(dst, at);
        d1.add(d2).intoArray(dst, at + step);
        d2.sub(d1).intoArray(dst, at + 2 * step);
        d1.sub(d3).intoArray(dst, at + 3 * step);
    }

    /** As {@link WinogradCpu#outputTransform}: out = Aᵀ M A + bias, 2x2 outputs a tile. */
    static void outputTransform(MemorySegment m, int rows, WinogradCpu.Shape s, int blk, int t, int oc0, int oc1,
                                float[] bias, MemorySegment out) {
        final long xiStride = (long) rows * s.tb * 4; // bytes
        final int perImage = s.tilesH * s.tilesW;
        final int rowLen = 2 * ((s.tilesW + VL - 1) / VL * VL);
        float[] line = Scratch.get().row(2 * rowLen); // [2 output rows, rowLen]
        float[] tmp = new float[8 * VL]; // (Aᵀ m)[row][col], a vector of tiles each
        float[] y = new float[4 * VL];   // Y[row][col]
        long g0 = (long) blk * s.tb;
        for (int j = 0; j < t; ) {
            long g = g0 + j;
            int img = (int) (g / perImage), r = (int) (g % perImage);
            int ty = r / s.tilesW, tx0 = r % s.tilesW;
            int run = Math.min(t - j, s.tilesW - tx0);
            int x0 = 2 * tx0;
            int cols = Math.min(2 * run, s.wo - x0);
            int yRows = Math.min(2, s.ho - 2 * ty);
            for (int oc = oc0; oc < oc1; oc++) {
                float b = bias == null ? 0f : bias[oc];
                long mBase = ((long) (oc - oc0) * s.tb + j) * 4;
                for (int i0 = 0; i0 < run; i0 += VL) {
                    long mb = mBase + i0 * 4L;
                    for (int col = 0; col < 4; col++) { // Aᵀ m, column by column
                        long mc = mb + col * xiStride;
                        at(FloatVector.fromMemorySegment(S, m, mc, NO), FloatVector.fromMemorySegment(S, m, mc + 4 * xiStride, NO),
                                FloatVector.fromMemorySegment(S, m, mc + 8 * xiStride, NO),
                                FloatVector.fromMemorySegment(S, m, mc + 12 * xiStride, NO), 0f, tmp, col * VL, 4 * VL);
                    }
                    for (int row = 0; row < 2; row++) { // (Aᵀ m) A + bias, row by row
                        int tr = row * 4 * VL;
                        at(FloatVector.fromArray(S, tmp, tr), FloatVector.fromArray(S, tmp, tr + VL),
                                FloatVector.fromArray(S, tmp, tr + 2 * VL), FloatVector.fromArray(S, tmp, tr + 3 * VL),
                                b, y, row * 2 * VL, VL);
                    }
                    for (int row = 0; row < 2; row++) { // tile i0 + l's pixel (row, col) to column 2 (i0 + l) + col
                        int e = row * 2 * VL, dst = row * rowLen + 2 * i0;
                        for (int l = 0; l < VL; l++, dst += 2) {
                            line[dst] = y[e + l];
                            line[dst + 1] = y[e + VL + l];
                        }
                    }
                }
                long dst = ((long) img * s.o + oc) * s.ho * s.wo + (long) 2 * ty * s.wo + x0;
                for (int row = 0; row < yRows; row++) {
                    MemorySegment.copy(line, row * rowLen, out, F, (dst + (long) row * s.wo) * 4, cols);
                }
            }
            j += run;
        }
    }

    /** dst[at + i·step ...] = (Aᵀ m)_i + b for the column m = (m0..m3). */
    private static void at(FloatVector m0, FloatVector m1, FloatVector m2, FloatVector m3, float b, float[] dst, int at,
                           int step) {
        m0.add(m1).add(m2).add(b).intoArray(dst, at); // m0 + m1 + m2
        m1.sub(m2).sub(m3).add(b).intoArray(dst, at + step); // m1 - m2 - m3
    }
}
