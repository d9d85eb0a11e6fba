package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static dev.panamadiffusion.backend.cpu.Microkernel.MR;
import static dev.panamadiffusion.backend.cpu.Microkernel.NR;
import static dev.panamadiffusion.backend.cpu.Microkernel.S;
import static dev.panamadiffusion.backend.cpu.Microkernel.VL;

/**
 * The {@link Microkernel} tiles with a packed weight in any {@link Packed.Format}: f32 weights go to
 * {@link Microkernel}; bf16 and int8 weights are converted to f32 as the kernel reads them and multiplied in f32,
 * so only the weight's rounding differs from the f32 path.
 *
 * <ul>
 *   <li>bf16: the 16 stored bits are the upper half of the f32 (widened, shifted left by 16, reinterpreted);</li>
 *   <li>int8: the bytes are widened to floats and the products summed over the reduction block; the block's scale
 *       (one per row or column of the weight, {@link Packed}) multiplies the sum once, when it is added to C.</li>
 * </ul>
 *
 * <p>Linear weights, the NR-wide B panels, are converted inside the kernel ({@link #tileB}: vector loads, widened
 * as they are read). Convolution weights, the MR-wide A panels whose values the kernel broadcasts one at a time, are
 * widened a panel at a time ({@link #widenA}) and multiplied by the f32 array kernel. The int8 and bf16 vector loads
 * need {@link #SUPPORTED vectors of at least 8 floats}.
 */
final class WeightKernels {
    private WeightKernels() {}

    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort H = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfByte B = ValueLayout.JAVA_BYTE;
    /** Whether the reduced formats run here: VL bytes must fill at least a 64-bit vector. */
    static final boolean SUPPORTED = VL >= 8;
    private static final VectorSpecies<Short> SH = SUPPORTED ? VectorSpecies.of(short.class, VectorShape.forBitSize(VL * 16)) : null;
    private static final VectorSpecies<Byte> SB = SUPPORTED ? VectorSpecies.of(byte.class, VectorShape.forBitSize(VL * 8)) : null;
    private static final VectorSpecies<Integer> SI = VectorSpecies.of(int.class, S.vectorShape());

    /**
     * C (+)= A · B over block {@code kb} of {@code w} (NR-wide B panels), panel {@code panel}: as
     * {@link Microkernel#tile(float[], int, int, int, MemorySegment, long, int, MemorySegment, long, long, int, int,
     * boolean, float[], int, float[], int)} with the B operand named by its block and panel.
     */
    static void tileB(float[] a, int ao, int ars, int aks, Packed w, int kb, int panel, MemorySegment c, long cIndex,
                      long ldc, int mr, int nr, boolean accumulate, float[] rowBias, int ri, float[] colBias, int ci) {
        int kc = w.kcOf(kb);
        long bo = w.offset(kb, panel);
        if (w.format() == Packed.Format.F32) {
            Microkernel.tile(a, ao, ars, aks, w.data(), bo, kc, c, cIndex, ldc, mr, nr, accumulate, rowBias, ri, colBias, ci);
            return;
        }
        boolean whole = mr == MR && nr == NR;
        MemorySegment t = whole ? c : Microkernel.edgeIn(c, cIndex, ldc, mr, nr, accumulate);
        long co = whole ? cIndex * 4 : 0;
        long ld = whole ? ldc * 4 : NR * 4L;
        if (!accumulate) Microkernel.startFromBiases(t, co, ld, rowBias, ri, colBias, ci);
        if (w.format() == Packed.Format.BF16) bf16B(a, ao, ars, aks, w.data(), bo * 2, kc, t, co, ld);
        else i8B(a, ao, ars, aks, w.data(), bo, w.scales(), w.scaleOffset(kb, panel), kc, t, co, ld);
        if (!whole) Microkernel.edgeOut(t, c, cIndex, ldc, mr, nr);
    }

    /**
     * The A panel {@code panel} of block {@code kb} of {@code w} (MR-wide, [k][r]) widened to f32 into {@code into}
     * (at least MR x kc long), each int8 value times its row's scale: the operand of the array kernel
     * ({@link Microkernel#tile(float[], int, int, int, float[], int, int, MemorySegment, long, long, int, int, boolean,
     * float[], int, float[], int)} with ars 1, aks MR). A convolution widens each weight panel once per block of
     * output pixels and reuses it for all of that block's column panels: converting inside the kernel, one scalar at a
     * time, made int8 convolutions 1.8x slower than f32 (bench/RESULTS.md "CPU weight precision").
     */
    static float[] widenA(Packed w, int kb, int panel, float[] into) {
        int kc = w.kcOf(kb);
        long at = w.offset(kb, panel);
        int n = kc * MR;
        MemorySegment d = w.data();
        if (w.format() == Packed.Format.BF16) {
            int i = 0;
            for (; i + VL <= n; i += VL) bf16(d, (at + i) * 2).intoArray(into, i);
            for (; i < n; i++) into[i] = Float.intBitsToFloat(d.get(H, (at + i) * 2) << 16);
        } else {
            // the row scales repeat every MR values: as vectors, every PERIOD (lcm(MR, VL)) values
            float[] s = new float[PERIOD];
            MemorySegment.copy(w.scales(), F, w.scaleOffset(kb, panel), s, 0, MR);
            for (int i = MR; i < PERIOD; i++) s[i] = s[i - MR];
            int i = 0;
            for (; i + PERIOD <= n; i += PERIOD) {
                for (int j = 0; j < PERIOD; j += VL) {
                    i8(d, at + i + j).mul(FloatVector.fromArray(S, s, j)).intoArray(into, i + j);
                }
            }
            for (; i < n; i++) into[i] = d.get(B, at + i) * s[i % MR];
        }
        return into;
    }

    private static final int PERIOD = MR * VL / gcd(MR, VL);

    private static int gcd(int a, int b) { return b == 0 ? a : gcd(b, a % b); }

    /** A thread's buffer for {@link #widenA}: MR x {@link Packed#KC_MAX} floats. */
    static float[] panelBuffer() { return PANEL.get(); }

    private static final ThreadLocal<float[]> PANEL = ThreadLocal.withInitial(() -> new float[MR * Packed.KC_MAX]);

    /** VL bfloat16 values at byte {@code at} of {@code s}, as floats. */
    private static FloatVector bf16(MemorySegment s, long at) {
        IntVector i = (IntVector) ShortVector.fromMemorySegment(SH, s, at, NO).convertShape(VectorOperators.S2I, SI, 0);
        return i.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /** VL signed bytes at byte {@code at} of {@code s}, as floats. */
    private static FloatVector i8(MemorySegment s, long at) {
        return (FloatVector) ByteVector.fromMemorySegment(SB, s, at, NO).convertShape(VectorOperators.B2F, S, 0);
    }

    /** C += A (array) · B (bf16 panel at byte {@code bo}); C holds its starting values. */
    private static void bf16B(float[] a, int ao, int ars, int aks, MemorySegment b, long bo, int kc, MemorySegment c, long co, long ldc) {
        final int a1 = ars, a2 = 2 * ars, a3 = 3 * ars, a4 = 4 * ars, a5 = 5 * ars;
        final long vb = VL * 4L;
        FloatVector c00 = FloatVector.fromMemorySegment(S, c, co, NO),
                c01 = FloatVector.fromMemorySegment(S, c, co + vb, NO),
                c10 = FloatVector.fromMemorySegment(S, c, co + ldc, NO),
                c11 = FloatVector.fromMemorySegment(S, c, co + ldc + vb, NO),
                c20 = FloatVector.fromMemorySegment(S, c, co + 2 * ldc, NO),
                c21 = FloatVector.fromMemorySegment(S, c, co + 2 * ldc + vb, NO),
                c30 = FloatVector.fromMemorySegment(S, c, co + 3 * ldc, NO),
                c31 = FloatVector.fromMemorySegment(S, c, co + 3 * ldc + vb, NO),
                c40 = FloatVector.fromMemorySegment(S, c, co + 4 * ldc, NO),
                c41 = FloatVector.fromMemorySegment(S, c, co + 4 * ldc + vb, NO),
                c50 = FloatVector.fromMemorySegment(S, c, co + 5 * ldc, NO),
                c51 = FloatVector.fromMemorySegment(S, c, co + 5 * ldc + vb, NO);
        for (int k = 0; k < kc; k++) {
            FloatVector b0 = bf16(b, bo);
            FloatVector b1 = bf16(b, bo + VL * 2L);
            FloatVector av = FloatVector.broadcast(S, a[ao]);
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[ao + a1]);
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[ao + a2]);
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[ao + a3]);
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[ao + a4]);
            c40 = av.fma(b0, c40); c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[ao + a5]);
            c50 = av.fma(b0, c50); c51 = av.fma(b1, c51);
            ao += aks;
            bo += NR * 2L;
        }
        c00.intoMemorySegment(c, co, NO);
        c01.intoMemorySegment(c, co + vb, NO);
        c10.intoMemorySegment(c, co + ldc, NO);
        c11.intoMemorySegment(c, co + ldc + vb, NO);
        c20.intoMemorySegment(c, co + 2 * ldc, NO);
        c21.intoMemorySegment(c, co + 2 * ldc + vb, NO);
        c30.intoMemorySegment(c, co + 3 * ldc, NO);
        c31.intoMemorySegment(c, co + 3 * ldc + vb, NO);
        c40.intoMemorySegment(c, co + 4 * ldc, NO);
        c41.intoMemorySegment(c, co + 4 * ldc + vb, NO);
        c50.intoMemorySegment(c, co + 5 * ldc, NO);
        c51.intoMemorySegment(c, co + 5 * ldc + vb, NO);
    }

    /**
     * C += (A (array) · Q) * s: Q the int8 panel at byte {@code bo}, s the NR column scales at byte {@code so} of
     * {@code scales}; the block's products are summed from zero and scaled once.
     */
    private static void i8B(float[] a, int ao, int ars, int aks, MemorySegment b, long bo, MemorySegment scales, long so,
                            int kc, MemorySegment c, long co, long ldc) {
        final int a1 = ars, a2 = 2 * ars, a3 = 3 * ars, a4 = 4 * ars, a5 = 5 * ars;
        final long vb = VL * 4L;
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
                c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int k = 0; k < kc; k++) {
            FloatVector b0 = i8(b, bo);
            FloatVector b1 = i8(b, bo + VL);
            FloatVector av = FloatVector.broadcast(S, a[ao]);
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[ao + a1]);
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[ao + a2]);
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[ao + a3]);
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[ao + a4]);
            c40 = av.fma(b0, c40); c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[ao + a5]);
            c50 = av.fma(b0, c50); c51 = av.fma(b1, c51);
            ao += aks;
            bo += NR;
        }
        FloatVector s0 = FloatVector.fromMemorySegment(S, scales, so, NO);
        FloatVector s1 = FloatVector.fromMemorySegment(S, scales, so + vb, NO);
        addScaled(c, co, c00, s0); addScaled(c, co + vb, c01, s1);
        addScaled(c, co + ldc, c10, s0); addScaled(c, co + ldc + vb, c11, s1);
        addScaled(c, co + 2 * ldc, c20, s0); addScaled(c, co + 2 * ldc + vb, c21, s1);
        addScaled(c, co + 3 * ldc, c30, s0); addScaled(c, co + 3 * ldc + vb, c31, s1);
        addScaled(c, co + 4 * ldc, c40, s0); addScaled(c, co + 4 * ldc + vb, c41, s1);
        addScaled(c, co + 5 * ldc, c50, s0); addScaled(c, co + 5 * ldc + vb, c51, s1);
    }

    /** C[at] += sum * s. */
    private static void addScaled(MemorySegment c, long at, FloatVector sum, FloatVector s) {
        sum.fma(s, FloatVector.fromMemorySegment(S, c, at, NO)).intoMemorySegment(c, at, NO);
    }
}
