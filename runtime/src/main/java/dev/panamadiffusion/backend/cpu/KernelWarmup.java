package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.backend.Abort;
import dev.panamadiffusion.tensor.Tensor;

import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

/**
 * Runs every op of the CPU backend on small inputs, on a backend of its own, until the JIT has had the chance to
 * compile their kernels: Vector API code runs many times slower before C2 compiles it, which made the first denoising
 * step of a model several seconds slower than the next ones even with its weights packed at load. Once per JVM (compiled
 * code is shared), after a model's weights are prepared ({@link CpuBackend#prepareWeights}); {@code -Dpd.cpu.warmup=false}
 * turns it off. The warm-up ends with a full collection (see {@link #once}).
 */
final class KernelWarmup {
    private KernelWarmup() {}

    private static final AtomicBoolean DONE = new AtomicBoolean();
    static final boolean ENABLED = !"false".equals(System.getProperty("pd.cpu.warmup"));
    /** Rounds at least, and for at least this long, so that compilations queued meanwhile are used. */
    private static final int ROUNDS = 300;
    private static final long MIN_NANOS = 1_500_000_000L;

    /** Warms the kernels up on {@code threads} threads, the first time only. */
    static void once(int threads) {
        if (!ENABLED || !DONE.compareAndSet(false, true)) return;
        try (CpuBackend cpu = new CpuBackend(threads)) {
            run(cpu);
        }
        Scratch.dropAll(); // the warm-up's small buffers: the model's first op grows its own
        // Until C2 compiles them, Vector API kernels allocate a heap box per vector op: gigabytes while a model packs
        // and the warm-up runs, for which the collector grows its young generation. Those pages would stay resident
        // (a young collection does not give them back); a full collection now shrinks the heap to what is live.
        System.gc();
    }

    /**
     * A UNet-like sequence of every op, repeated: conv (3x3, 1x1, strided, of an upsampled input), norms (with and without
     * SiLU), linear (one and two reduction blocks), attention (heads of 8 and 40, self and cross), elementwise; at
     * small sizes and at model-like ones. Each round runs as a generation runs the ops: under a cancellation condition
     * (of three classes, so that its call is compiled as a call rather than inlined for one class the pipeline's
     * condition then is not) and with every thread's scratch buffers growing again ({@link Scratch#dropAll}).
     */
    static void run(CpuBackend cpu) {
        Inputs in = new Inputs(cpu);
        long start = System.nanoTime();
        for (int i = 0; i < ROUNDS || System.nanoTime() - start < MIN_NANOS; i++) {
            Scratch.dropAll();
            boolean deep = i % 8 == 0;
            if (i % 4 == 3) {
                in.round(cpu, deep); // and, as other callers run them, without one
            } else {
                Abort.when(STOPS[i % STOPS.length], () -> {
                    in.round(cpu, deep);
                    return null;
                });
            }
        }
    }

    /** Never true: the warm-up's cancellation conditions, of three classes. */
    private static final BooleanSupplier[] STOPS = {() -> false, () -> Boolean.FALSE, new BooleanSupplier() {
        @Override
        public boolean getAsBoolean() { return false; }
    }};

    private static Tensor rand(SplittableRandom r, long... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return Tensor.fromFloats(v, shape);
    }

    /** The rounds' inputs, on the warm-up's backend. */
    private static final class Inputs {
        final SplittableRandom r = new SplittableRandom(0);
        final Tensor x, w3, w1, b, lw, lb, lw2, emb, g, beta;
        // model-like sizes: more pixels than a column chunk, rows not a multiple of the panel width, K past one block
        // (convolution and linear), a projection wider than its tokens (text K/V), a padded stride-2 convolution,
        // LayerNorm over 320, heads of 40 over 400 and 77 keys
        final Tensor x2, x2half, w64, b64, g64, lw320, g320, b320, ctx, lw64, tokens150, lw640;
        // Winograd, F(2x2, 3x3) and F(4x4, 3x3), each with two reduction blocks (C 272) and an upsampled input; the
        // direct convolution and its upsampled input on planes too small for either
        final Tensor x24, x32, w272, x16, x5;

        Inputs(CpuBackend cpu) {
            x = up(cpu, 2, 32, 16, 16);                                                          // [N, C, H, W]
            w3 = up(cpu, 32, 32, 3, 3);
            w1 = up(cpu, 32, 32, 1, 1);
            b = up(cpu, 32);
            lw = up(cpu, 64, 32);
            lb = up(cpu, 64);
            lw2 = up(cpu, 32, 32);
            emb = up(cpu, 2, 32);
            g = up(cpu, 32);
            beta = up(cpu, 32);
            x2 = up(cpu, 1, 64, 20, 20);
            x2half = up(cpu, 1, 64, 10, 10);
            w64 = up(cpu, 64, 64, 3, 3);
            b64 = up(cpu, 64);
            g64 = up(cpu, 64);
            lw320 = up(cpu, 320, 64);
            g320 = up(cpu, 320);
            b320 = up(cpu, 320);
            ctx = up(cpu, 1, 77, 320);
            lw64 = up(cpu, 64, 320);
            tokens150 = up(cpu, 1, 150, 320);
            lw640 = up(cpu, 640, 320);
            x24 = up(cpu, 2, 272, 24, 24);
            x32 = up(cpu, 1, 272, 32, 32);
            w272 = up(cpu, 64, 272, 3, 3);
            x16 = up(cpu, 1, 64, 16, 16);
            x5 = up(cpu, 1, 64, 5, 5);
        }

        private Tensor up(CpuBackend cpu, long... shape) { return cpu.upload(rand(r, shape)); }

        /**
         * One round; {@code deep}: with Winograd's two reduction blocks as well (a round in 8: their scratch, grown
         * again each round, made every round 3x as long).
         */
        void round(CpuBackend cpu, boolean deep) {
            Tensor h = cpu.groupNorm(cpu.conv2d(x, w3, b, 1, 1), 8, g, beta, 1e-5f, true);      // [2, 32, 16, 16]
            h = cpu.addChannelwise(cpu.add(h, cpu.conv2d(x, w1, b, 1, 0)), emb);
            Tensor down = cpu.conv2d(cpu.pad2d(h, 0, 1, 0, 1), w3, b, 2, 0);                    // [2, 32, 8, 8]
            Tensor t = cpu.layerNorm(cpu.toTokens(down), g, beta, 1e-5f);                       // [2, 64, 32]
            Tensor y = cpu.linear(t, lw, lb);                                                    // [2, 64, 64]
            cpu.scale(cpu.add(cpu.gelu(y), cpu.quickGelu(cpu.silu(y))), 0.5f);
            t = cpu.add(cpu.attention(t, t, t, 4, false), cpu.attention(t, t, t, 4, true));   // [2, 64, 32]
            cpu.linear(cpu.geglu(y), lw2, null);                                                 // [2, 64, 32]
            Tensor up = cpu.upsampleNearest2x(cpu.fromTokens(t, 8, 8));                         // [2, 32, 16, 16]
            cpu.download(cpu.concatChannels(up, h));
            // at the small sizes alone, a model's first step hit uncommon traps in the convolution, LayerNorm and
            // attention kernels (C2 had compiled out branches real shapes take) and ran them deoptimized
            Tensor big = cpu.conv2d(x2, w64, b64, 1, 1);                                         // [1, 64, 20, 20]: F(2x2)
            Tensor n = cpu.groupNorm(big, 32, g64, b64, 1e-6f, false);                           // [1, 64, 20, 20]
            Tensor u = cpu.upsampleNearest2xConv2d(x2half, w64, b64, 1);                        // [1, 64, 20, 20]: F(2x2), ×2
            Tensor tok = cpu.linear(cpu.toTokens(n), lw320, null);                              // [1, 400, 320]
            Tensor ln = cpu.layerNorm(tok, g320, b320, 1e-5f);                                  // [1, 400, 320]
            Tensor self = cpu.attention(ln, ln, ln, 8, false);                                   // [1, 400, 320]
            Tensor cross = cpu.attention(ln, ctx, ctx, 8, false);                                // [1, 400, 320]
            Tensor text = cpu.attention(ctx, ctx, ctx, 8, true);                                 // [1, 77, 320]: CLIP, causal
            Tensor proj = cpu.linear(cross, lw64, null);                                         // [1, 400, 64]: K 256 + 64
            Tensor half = cpu.conv2d(x2, w64, b64, 2, 1);                                        // [1, 64, 10, 10]: Downsample2D
            Tensor kv = cpu.linear(tokens150, lw640, null);                                     // [1, 150, 640]: 2 row blocks a task
            Tensor wino = deep ? cpu.conv2d(x24, w272, b64, 1, 1) : null;                        // [2, 64, 24, 24]: F(2x2)
            Tensor wino4 = deep ? cpu.conv2d(x32, w272, b64, 1, 1) : null;                       // [1, 64, 32, 32]: F(4x4)
            Tensor wup = cpu.upsampleNearest2xConv2d(x16, w64, b64, 1);                          // [1, 64, 32, 32]: F(4x4), ×2
            Tensor direct = cpu.conv2d(x2half, w64, b64, 1, 1);                                  // [1, 64, 10, 10]: direct
            Tensor dup = cpu.upsampleNearest2xConv2d(x5, w64, b64, 1);                           // [1, 64, 10, 10]: direct, ×2
            cpu.release(big, n, u, tok, ln, self, cross, text, proj, half, kv, wino, wino4, wup, direct, dup);
        }
    }
}
