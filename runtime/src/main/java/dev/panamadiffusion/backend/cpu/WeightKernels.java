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
 * Reduced-precision weight panels ({@link Packed.Format#BF16}, {@link Packed.Format#I8}) widened to f32 for the
 * {@link Microkernel} array kernels, one panel at a time: a linear widens each NR-wide B panel once per block of
 * {@link Sgemm#MC} rows ({@link #widenB}), a convolution each MR-wide A panel once per chunk of output pixels
 * ({@link #widenA}), and both then multiply in f32, so only the weights' rounding differs from the f32 path.
 *
 * <ul>
 *   <li>bf16: the 16 stored bits are the upper half of the f32 (widened, shifted left by 16, reinterpreted);</li>
 *   <li>int8: the bytes are widened to floats and multiplied by their group's scale (one per row or column per
 *       {@link Packed#I8_GROUP} reduction steps).</li>
 * </ul>
 *
 * <p>Widening inside the kernels instead, as each value is read, cost more than it saved: 1.3x the f32 time for an
 * int8 linear, 1.8x for an int8 convolution whose weights the kernel broadcasts one scalar at a time (bench/RESULTS.md,
 * "CPU weight precision"). The vector loads need {@link #SUPPORTED vectors of at least 8 floats}.
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
            // per group of I8_GROUP steps, the row scales repeat every MR values: as vectors, every PERIOD values
            float[] s = new float[PERIOD];
            int k0 = kb * w.kc();
            for (int g0 = 0; g0 < kc; g0 += Packed.I8_GROUP) {
                MemorySegment.copy(w.scales(), F, w.scaleOffset(k0 + g0, panel), s, 0, MR);
                for (int i = MR; i < PERIOD; i++) s[i] = s[i - MR];
                int i = g0 * MR, end = Math.min(kc, g0 + Packed.I8_GROUP) * MR;
                for (; i + PERIOD <= end; i += PERIOD) {
                    for (int j = 0; j < PERIOD; j += VL) i8(d, at + i + j).mul(FloatVector.fromArray(S, s, j)).intoArray(into, i + j);
                }
                for (; i < end; i++) into[i] = d.get(B, at + i) * s[i % MR];
            }
        }
        return into;
    }

    /**
     * The B panel {@code panel} of block {@code kb} of {@code w} (NR-wide, [k][c]) widened to f32 into {@code into}
     * (at least kc x NR long), each int8 value times its column's scale: the operand of the array kernel
     * ({@link Microkernel#tile(float[], int, int, int, float[], int, int, MemorySegment, long, long, int, int, boolean,
     * float[], int, float[], int)}). A linear widens each weight panel once per block of {@link Sgemm#MC} rows and
     * reuses it for all of that block's row panels.
     */
    static float[] widenB(Packed w, int kb, int panel, float[] into) {
        int kc = w.kcOf(kb);
        long at = w.offset(kb, panel);
        MemorySegment d = w.data();
        if (w.format() == Packed.Format.BF16) {
            for (int i = 0, n = kc * NR; i < n; i += VL) bf16(d, (at + i) * 2).intoArray(into, i);
        } else {
            int k0 = kb * w.kc();
            for (int g0 = 0; g0 < kc; g0 += Packed.I8_GROUP) {
                long so = w.scaleOffset(k0 + g0, panel);
                FloatVector s0 = FloatVector.fromMemorySegment(S, w.scales(), so, NO);
                FloatVector s1 = FloatVector.fromMemorySegment(S, w.scales(), so + VL * 4L, NO);
                for (int i = g0 * NR, end = Math.min(kc, g0 + Packed.I8_GROUP) * NR; i < end; i += NR) {
                    i8(d, at + i).mul(s0).intoArray(into, i);
                    i8(d, at + i + VL).mul(s1).intoArray(into, i + VL);
                }
            }
        }
        return into;
    }

    /** A thread's buffer for {@link #widenB}: {@link Packed#KC_MAX} x NR floats. */
    static float[] panelBufferB() { return PANEL_B.get(); }

    private static final ThreadLocal<float[]> PANEL_B = ThreadLocal.withInitial(() -> new float[NR * Packed.KC_MAX]);

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
}
