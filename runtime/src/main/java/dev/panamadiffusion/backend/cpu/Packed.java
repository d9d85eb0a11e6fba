package dev.panamadiffusion.backend.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A matrix operand packed into micro-panels for {@link Microkernel}: {@code n} rows (A side, width MR) or columns
 * (B side, width NR), padded to {@code nPad}, split along the reduction dimension {@code k} into blocks of
 * {@code kc}. Block kb, panel p starts at element {@code kb*kc*nPad + p*kcOf(kb)*width} of {@code data} and holds
 * kcOf(kb) steps of {@code width} values; padding is zero. The panels are native memory (64-byte aligned), off the
 * Java heap: a weight's lives as long as the arena its {@link WeightCache} entry allocated it from.
 *
 * <p>Weights may be stored in a reduced {@link Format}: element offsets are the same, only the element size differs.
 * {@link Format#I8} stores round(v / s) in [-127, 127] with one f32 scale s = max|v| / 127 per row or column per
 * group of {@link #I8_GROUP} reduction steps (q8_0's blocks of 32), in {@code scales}: the scale of row/column i for
 * reduction step kk is element {@code (kk / I8_GROUP) * nPad + i}; an int8 operand's kc is a multiple of the group.
 * The matrix products widen a panel at a time to f32 ({@link WeightKernels}).
 */
record Packed(MemorySegment data, MemorySegment scales, Format format, int n, int nPad, int k, int kc, int width) {
    static final int KC_MAX = 256;
    /**
     * The int8 group: the reduction steps of one row or column sharing one scale (q8_0's 32; measured against 64 and
     * 256 in bench/RESULTS.md "CPU weight precision"; {@code -Dpd.cpu.int8.group}, a multiple of 8, when tuning).
     */
    static final int I8_GROUP = group(Integer.getInteger("pd.cpu.int8.group", 32));

    private static int group(int g) {
        if (g < 8 || g > KC_MAX || g % 8 != 0) {
            throw new IllegalArgumentException("pd.cpu.int8.group must be a multiple of 8 from 8 to " + KC_MAX + ", got " + g);
        }
        return g;
    }
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** How the values are stored. */
    enum Format {
        /** IEEE single precision, as computed. */
        F32(4),
        /** bfloat16: the upper half of the f32, rounded to nearest even (8 significant bits, relative error <= 2^-8). */
        BF16(2),
        /** Signed bytes times a per-block f32 scale (absolute error <= max|v| / 254 of the block's row or column). */
        I8(1);

        final int bytes;

        Format(int bytes) { this.bytes = bytes; }
    }

    /** An f32 operand. */
    Packed(MemorySegment data, int n, int nPad, int k, int kc, int width) {
        this(data, null, Format.F32, n, nPad, k, kc, width);
    }

    int blocks() { return (k + kc - 1) / kc; }

    int kcOf(int kb) { return Math.min(kc, k - kb * kc); }

    int panels() { return nPad / width; }

    int offset(int kb, int panel) { return kb * kc * nPad + panel * kcOf(kb) * width; }

    /**
     * Byte offset in {@code scales} of the first scale of panel {@code panel} for the group holding reduction step
     * {@code kk} ({@link Format#I8}); the panel's {@code width} scales follow.
     */
    long scaleOffset(int kk, int panel) { return ((long) (kk / I8_GROUP) * nPad + (long) panel * width) * 4; }

    /** Bytes of native memory held: panels and scales. */
    long byteSize() { return data.byteSize() + (scales == null ? 0 : scales.byteSize()); }

    /** Bytes of panel memory for an n x k operand of {@code width}. */
    static long bytes(int n, int k, int width) { return (long) pad(n, width) * k * 4; }

    /** The reduction block size for a reduction of length {@code k}: blocks of at most KC_MAX, evened out. */
    static int blockK(int k) { return blockK(k, KC_MAX); }

    /** The reduction block size for a reduction of length {@code k}: blocks of at most {@code max}, evened out. */
    static int blockK(int k, int max) {
        int nb = Math.max(1, (k + max - 1) / max);
        return Math.max(1, (k + nb - 1) / nb);
    }

    static int pad(int n, int width) { return (n + width - 1) / width * width; }

    /**
     * Packs the n x k matrix M[i][kk] = src[base + i*rs + kk*ks] (element indices into an f32 segment) into
     * panels of {@code width} allocated from {@code arena}, rows in parallel when {@code par} is given.
     */
    static Packed pack(Parallel par, MemorySegment src, long base, long rs, long ks, int n, int k, int width, Arena arena) {
        return pack(par, src, base, rs, ks, n, k, width, blockK(k), arena.allocate(Math.max(4, bytes(n, k, width)), 64));
    }

    /**
     * As {@link #pack(Parallel, MemorySegment, long, long, long, int, int, int, Arena)} with reduction blocks of
     * {@code kc}, into {@code into} (at least {@link #bytes} long; any contents: the padding is written too).
     */
    static Packed pack(Parallel par, MemorySegment src, long base, long rs, long ks, int n, int k, int width, int kc,
                       MemorySegment into) {
        int nPad = pad(n, width);
        if (into.byteSize() < bytes(n, k, width)) throw new IllegalArgumentException("packed operand needs " + bytes(n, k, width) + " bytes");
        return new Packed(into, n, nPad, k, kc, width).fill(par, src, base, rs, ks);
    }

    /** Packs M[i][kk] = src[base + i*rs + kk*ks] into this operand's panels, rows in parallel when {@code par} is given. */
    private Packed fill(Parallel par, MemorySegment src, long base, long rs, long ks) {
        int rowsPerTask = Math.max(width, (1 << 16) / Math.max(1, k) / width * width);
        Parallel.RangeBody body = (r0, r1) -> packPanels(src, base, rs, ks, (int) r0, (int) r1);
        if (par == null) body.run(0, n);
        else par.forRange(n, rowsPerTask, body);
        return this;
    }

    /**
     * As {@link #pack(Parallel, MemorySegment, long, long, long, int, int, int, Arena)}, stored in {@code format}
     * (int8 in groups of {@link #I8_GROUP}), from {@code arena}.
     */
    static Packed pack(Parallel par, MemorySegment src, long base, long rs, long ks, int n, int k, int width, Format format,
                       Arena arena) {
        if (format == Format.F32) return pack(par, src, base, rs, ks, n, k, width, arena);
        int nPad = pad(n, width);
        int kc = blockK(k);
        if (format == Format.I8) kc = Math.min(Math.max(KC_MAX, I8_GROUP), (kc + I8_GROUP - 1) / I8_GROUP * I8_GROUP);
        MemorySegment data = arena.allocate(Math.max(4, (long) nPad * k * format.bytes), 64);
        MemorySegment scales = format == Format.I8 ? arena.allocate(Math.max(4, (long) nPad * ((k + I8_GROUP - 1) / I8_GROUP) * 4), 64) : null;
        return new Packed(data, scales, format, n, nPad, k, kc, width).fill(par, src, base, rs, ks);
    }

    /** Packs on the calling thread into a new automatically freed segment (tests, small operands). */
    static Packed pack(MemorySegment src, long base, long rs, long ks, int n, int k, int width) {
        return pack(null, src, base, rs, ks, n, k, width, Arena.ofAuto());
    }

    /** The panels holding rows [r0, r1) (r0 a multiple of width), the last one's rows past n as zeros. */
    private void packPanels(MemorySegment src, long base, long rs, long ks, int r0, int r1) {
        int steps = Math.min(k, kc);
        float[] panel = new float[steps * width];
        float[] row = new float[steps];
        for (int kb = 0; kb < blocks(); kb++) {
            int k0 = kb * kc;
            int len = kcOf(kb);
            for (int pn = r0 / width, pEnd = (r1 + width - 1) / width; pn < pEnd; pn++) {
                for (int w = 0; w < width; w++) {
                    int i = pn * width + w;
                    if (i >= n) {
                        for (int kk = 0; kk < len; kk++) panel[kk * width + w] = 0f;
                        continue;
                    }
                    long s = base + i * rs + k0 * ks;
                    if (ks == 1) {
                        MemorySegment.copy(src, F, s * 4, row, 0, len);
                        for (int kk = 0; kk < len; kk++) panel[kk * width + w] = row[kk];
                    } else {
                        for (int kk = 0; kk < len; kk++) panel[kk * width + w] = src.getAtIndex(F, s + kk * ks);
                    }
                }
                store(panel, kb, pn, len);
            }
        }
    }

    /** Writes the f32 panel {@code pn} of block {@code kb} ({@code len} steps) in this operand's format. */
    private void store(float[] panel, int kb, int pn, int len) {
        long at = offset(kb, pn);
        switch (format) {
            case F32 -> MemorySegment.copy(panel, 0, data, F, at * 4, len * width);
            case BF16 -> {
                for (int i = 0; i < len * width; i++) data.set(ValueLayout.JAVA_SHORT_UNALIGNED, (at + i) * 2, bf16(panel[i]));
            }
            case I8 -> {
                for (int g0 = 0; g0 < len; g0 += I8_GROUP) {
                    int g1 = Math.min(len, g0 + I8_GROUP);
                    long so = scaleOffset(kb * kc + g0, pn);
                    for (int w = 0; w < width; w++) {
                        float max = 0f;
                        for (int kk = g0; kk < g1; kk++) max = Math.max(max, Math.abs(panel[kk * width + w]));
                        float s = max / 127f;
                        float inv = s == 0f ? 0f : 1f / s;
                        scales.set(F, so + w * 4L, s);
                        for (int kk = g0; kk < g1; kk++) {
                            int q = Math.round(panel[kk * width + w] * inv);
                            data.set(ValueLayout.JAVA_BYTE, at + kk * width + w, (byte) Math.max(-127, Math.min(127, q)));
                        }
                    }
                }
            }
        }
    }

    /** The bfloat16 nearest to {@code v} (ties to even; NaN stays NaN). */
    static short bf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** The value of a bfloat16. */
    static float fromBf16(short h) { return Float.intBitsToFloat(h << 16); }

    /** Element (i, kk) of the operand as the kernels read it (f32; tests). */
    float get(int i, int kk) {
        int kb = kk / kc;
        int pn = i / width;
        long at = offset(kb, pn) + (long) (kk - kb * kc) * width + (i - pn * width);
        return switch (format) {
            case F32 -> data.get(F, at * 4);
            case BF16 -> fromBf16(data.get(ValueLayout.JAVA_SHORT_UNALIGNED, at * 2));
            case I8 -> data.get(ValueLayout.JAVA_BYTE, at) * scales.get(F, scaleOffset(kk, pn) + (long) (i - pn * width) * 4);
        };
    }
}
