package dev.panamadiffusion.rng;

/**
 * The 32-bit Mersenne Twister (Matsumoto and Nishimura, 1998), seeded the way C++ {@code std::mt19937} and PyTorch's
 * CPU generator seed it: the low 32 bits of the seed, expanded by the standard linear recurrence.
 *
 * <p>Not thread-safe.
 */
public final class Mt19937 {
    private static final int N = 624;
    private static final int M = 397;
    private static final int MATRIX_A = 0x9908b0df;
    private static final int UPPER_MASK = 0x80000000;
    private static final int LOWER_MASK = 0x7fffffff;

    private final int[] state = new int[N];
    private int index;

    public Mt19937(long seed) {
        seed(seed);
    }

    /** Restarts the sequence from {@code seed} (only its low 32 bits are used, as in {@code std::mt19937}). */
    public void seed(long seed) {
        state[0] = (int) seed;
        for (int i = 1; i < N; i++) {
            int prev = state[i - 1];
            state[i] = 1812433253 * (prev ^ (prev >>> 30)) + i;
        }
        index = N;
    }

    /** The next 32 random bits (read as unsigned with {@link Integer#toUnsignedLong}). */
    public int nextInt() {
        if (index >= N) twist();
        int y = state[index++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    private void twist() {
        for (int k = 0; k < N; k++) {
            int y = (state[k] & UPPER_MASK) | (state[(k + 1) % N] & LOWER_MASK);
            state[k] = state[(k + M) % N] ^ (y >>> 1) ^ ((y & 1) != 0 ? MATRIX_A : 0);
        }
        index = 0;
    }
}
