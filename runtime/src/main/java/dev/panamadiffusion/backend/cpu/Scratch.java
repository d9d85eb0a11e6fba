package dev.panamadiffusion.backend.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Per-thread scratch buffers, grown on demand and reused across calls (packed panels, score blocks, edge tiles). */
final class Scratch {
    private static final ThreadLocal<Scratch> LOCAL = ThreadLocal.withInitial(Scratch::new);
    /** Bumped by {@link #dropAll}: a thread's buffers from an older epoch are dropped at its next {@link #get}. */
    private static volatile int epoch;

    static Scratch get() {
        Scratch s = LOCAL.get();
        if (s.seen != epoch) s.drop();
        return s;
    }

    /**
     * Every thread drops its buffers (at its next {@link #get}), so that they grow again. {@link KernelWarmup} calls
     * this every round: a growth branch that compiled code never saw taken is compiled as a trap, and the first model
     * step, the first to need bigger buffers than the warm-up's, then threw the kernels that inline it (the
     * convolution's task) back to the interpreter until they were compiled again.
     */
    static void dropAll() { epoch = epoch + 1; }

    private int seen = epoch;

    private void drop() {
        seen = epoch;
        a = b = c = row = padded = columns = new float[0];
        s1 = s2 = u = MemorySegment.NULL;
    }

    final MemorySegment tile = Arena.ofAuto().allocate((long) Microkernel.MR * Microkernel.NR * 4, 64);
    private float[] a = new float[0];
    private float[] b = new float[0];
    private float[] c = new float[0];
    private float[] row = new float[0];
    private float[] padded = new float[0];
    private float[] columns = new float[0];

    private MemorySegment s1 = MemorySegment.NULL;
    private MemorySegment s2 = MemorySegment.NULL;
    private MemorySegment u = MemorySegment.NULL;

    float[] a(int n) { return a.length >= n ? a : (a = new float[grow(n)]); }

    float[] b(int n) { return b.length >= n ? b : (b = new float[grow(n)]); }

    float[] c(int n) { return c.length >= n ? c : (c = new float[grow(n)]); }

    /**
     * The zero-padded input of a convolution (filled by the pool, read by the pool). Larger inputs get an array of
     * their own rather than one kept for the life of the thread; Winograd pads in bands of at most this size.
     */
    float[] padded(int n) {
        if (n > PADDED_KEEP) return new float[n];
        return padded.length >= n ? padded : (padded = new float[Math.min(PADDED_KEEP, grow(n))]);
    }

    /** Floats of padded input a thread keeps (32 MiB). */
    static final int PADDED_KEEP = 8 << 20;

    /** A convolution's packed columns shared by its tasks (filled and then read by the pool; at most 16 MiB). */
    float[] columns(int n) { return columns.length >= n ? columns : (columns = new float[grow(n)]); }

    float[] row(int n) { return row.length >= n ? row : (row = new float[grow(n)]); }

    /** Native scratch of at least {@code floats} floats, 64-byte aligned. */
    MemorySegment seg1(long floats) {
        if (s1.byteSize() < floats * 4) s1 = Arena.ofAuto().allocate(floats * 4, 64);
        return s1;
    }

    MemorySegment seg2(long floats) {
        if (s2.byteSize() < floats * 4) s2 = Arena.ofAuto().allocate(floats * 4, 64);
        return s2;
    }

    /** Native scratch for a chunk of Winograd's transformed filters ({@link WinogradCpu}: the calling thread's). */
    MemorySegment winogradU(long floats) {
        if (u.byteSize() < floats * 4) u = Arena.ofAuto().allocate(floats * 4, 64);
        return u;
    }

    private static int grow(int n) { return (int) Math.min(Integer.MAX_VALUE - 8, Math.max(n, n + (long) n / 4)); }
}
