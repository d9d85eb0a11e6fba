package dev.panamadiffusion.bench;

import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaEvent;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.models.unet.UNet2DConditionConfig;
import dev.panamadiffusion.pipeline.EagerUNet;
import dev.panamadiffusion.pipeline.GraphedUNet;
import dev.panamadiffusion.pipeline.UNetRunner;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The SD 1.5 UNet step on the CUDA backend in one process, for a short GPU session: f16, batch 2, latent
 * [2, 4, 64, 64], context [2, 77, 768], random weights N(0, 0.02²). Phases, each printed as it ends:
 * <ol>
 *   <li>checkpoint: the random weights written as an f16 diffusers component ({@code DIR/unet}, 1.7 GB), unless there;
 *   <li>cold start: CUDA backend start, weights from that file to the GPU, first step (kernel loading and cuBLASLt and
 *       cuDNN plans included); the file was just written, so it is read from the page cache, not the disk;
 *   <li>eager and graph steps: {@code steps} timed steps each after warm-up, CUDA events around each (host latents up,
 *       UNet, prediction down), median; the graph's recording is timed by the host clock; both on the same input, the
 *       relative difference of their outputs;
 *   <li>per-op profile: {@code profileSteps} eager steps through {@link CudaProfilingBackend} (events around every op):
 *       GPU time, FLOPs and fewest bytes per op family and per op shape;
 *   <li>ceilings through this backend: one 8192³ f16 matrix product (cuBLASLt) and a 128 MiB device copy;
 *   <li>memory: the arena's high-water marks (weights, one eager step, one recorded graph) and the driver's view.
 * </ol>
 * The last lines, from {@code SUMMARY}, are {@code key = value} pairs.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g \
 *     -cp bench/target/benchmarks.jar dev.panamadiffusion.bench.CudaUNetProfile [DIR] [steps] [profileSteps]
 * </pre>
 * Exit code 3 (and one line) when no usable GPU is found.
 */
public final class CudaUNetProfile {
    private static final Map<String, String> SUMMARY = new LinkedHashMap<>();

    private CudaUNetProfile() {}

    public static void main(String[] args) {
        Path dir = Path.of(args.length > 0 ? args[0] : "/tmp/pd-sd15-random");
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 30;
        int profileSteps = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        String why = CudaBench.unavailable();
        if (why != null) {
            System.out.println("CudaUNetProfile: " + why);
            System.exit(3);
        }
        System.out.println("device: " + CudaProbe.probe().message());

        Path unetDir = dir.resolve("unet");
        if (!Files.isRegularFile(unetDir.resolve("diffusion_pytorch_model.fp16.safetensors"))) {
            long t = System.nanoTime();
            long bytes = CudaBench.writeRandom(CudaBench.SD15_CONFIG, unetDir);
            System.out.printf(Locale.ROOT, "checkpoint: random SD 1.5 UNet written to %s (%.2f GB) in %.1f s%n",
                    unetDir, bytes / 1e9, seconds(t));
        } else {
            System.out.println("checkpoint: reusing " + unetDir);
        }
        System.gc();

        long t0 = System.nanoTime();
        try (CudaBackend cuda = new CudaBackend(); Arena files = Arena.ofShared()) {
            double startS = seconds(t0);
            long[] memStart = cuda.deviceMemory();
            long t1 = System.nanoTime();
            CudaBench.Bound bound = CudaBench.load(unetDir, cuda, files);
            if (!CudaBench.sameConfig(bound.unet().config(), UNet2DConditionConfig.sd15())) {
                throw new IllegalStateException(unetDir + " is not the SD 1.5 UNet: delete it to have it written again");
            }
            cuda.synchronize();
            double loadS = seconds(t1);
            long weightBytes = cuda.arenaUsed();
            Tensor sample = CudaBench.gaussian(1, 2, 4, 64, 64);              // [2, 4, 64, 64] host
            Tensor context = cuda.upload(CudaBench.gaussian(2, 2, 77, 768));  // [2, 77, 768]
            double[] t = {999, 999};
            EagerUNet eager = new EagerUNet(bound.unet(), cuda);
            long t2 = System.nanoTime();
            Tensor first = eager.predict(sample, t, context);
            double firstS = seconds(t2);
            double coldS = seconds(t0);
            System.out.printf(Locale.ROOT, "cold start: backend %.2f s, weights file -> GPU %.2f s (%.2f GB on the GPU),"
                    + " first step %.2f s; total %.2f s%n", startS, loadS, weightBytes / 1e9, firstS, coldS);
            put("cold_start_s", coldS);
            put("cold_backend_start_s", startS);
            put("cold_weights_load_s", loadS);
            put("cold_first_step_s", firstS);
            put("weights_gb", weightBytes / 1e9);
            requireFinite("first eager step", first);

            // eager steps
            for (int i = 0; i < 3; i++) eager.predict(sample, t, context);
            cuda.synchronize();
            cuda.resetArenaPeak();
            Timing eagerT = timeSteps(cuda, eager, sample, t, context, steps);
            long eagerPeak = cuda.arenaPeak() - weightBytes;
            Tensor eagerOut = eager.predict(sample, t, context);
            report("eager", eagerT);

            // graph steps
            long beforeCapture = settledArena(cuda);
            double captureS;
            double graphVsEager;
            Timing graphT;
            long graphHeld;
            try (GraphedUNet graphed = new GraphedUNet(bound.unet(), cuda, 1)) {
                long t3 = System.nanoTime();
                graphed.predict(sample, t, context);
                captureS = seconds(t3);
                graphHeld = settledArena(cuda) - beforeCapture;
                for (int i = 0; i < 3; i++) graphed.predict(sample, t, context);
                graphT = timeSteps(cuda, graphed, sample, t, context, steps);
                graphVsEager = CudaBench.relError(graphed.predict(sample, t, context), eagerOut);
                if (graphed.captures() != 1) throw new IllegalStateException(graphed.captures() + " graph recordings, expected 1");
            }
            System.out.printf(Locale.ROOT, "graph: first step (eager pass + recording) %.3f s; graph keeps %.2f GB of"
                    + " intermediates; output vs eager: rel error %.2e%n", captureS, graphHeld / 1e9, graphVsEager);
            report("graph", graphT);
            put("eager_step_ms", eagerT.medianMs());
            put("eager_steps_per_s", 1000 / eagerT.medianMs());
            put("eager_wall_step_ms", eagerT.medianWallMs());
            put("graph_step_ms", graphT.medianMs());
            put("graph_steps_per_s", 1000 / graphT.medianMs());
            put("graph_wall_step_ms", graphT.medianWallMs());
            put("graph_first_step_s", captureS);
            put("graph_vs_eager_rel_error", graphVsEager);
            if (!(graphVsEager <= 1e-3)) throw new IllegalStateException("graph replay differs from the eager step: " + graphVsEager);

            // per-op profile
            double flopsPerStep;
            try (CudaProfilingBackend prof = new CudaProfilingBackend(cuda)) {
                EagerUNet profiled = new EagerUNet(CudaBench.rebind(bound, prof), prof);
                Tensor profContext = prof.upload(context);
                for (int i = 0; i < 2; i++) profiled.predict(sample, t, profContext);
                prof.reset();
                for (int i = 0; i < profileSteps; i++) {
                    profiled.predict(sample, t, profContext);
                    prof.collect();
                }
                flopsPerStep = prof.totalFlops() / profileSteps;
                System.out.printf(Locale.ROOT, "%nper-op GPU time over %d eager steps (events around every op; ops total"
                        + " %.3f ms/step against an eager step of %.3f ms: the rest is gaps between ops)%n",
                        profileSteps, prof.totalMillis() / profileSteps, eagerT.medianMs());
                System.out.println(prof.report(profileSteps, 25));
                for (CudaProfilingBackend.Family f : CudaProfilingBackend.Family.values()) {
                    if (f == CudaProfilingBackend.Family.TRANSFER) continue;
                    put("op_" + f.name().toLowerCase(Locale.ROOT) + "_ms", prof.family(f).millis() / profileSteps);
                }
                put("ops_total_ms", prof.totalMillis() / profileSteps);
                put("flop_per_step_t", flopsPerStep / 1e12);
            }

            // ceilings
            double[] ceilings = ceilings(cuda);
            double gemmTflops = ceilings[0], copyGbs = ceilings[1];
            double floorMs = flopsPerStep / (gemmTflops * 1e12) * 1e3;
            System.out.printf(Locale.ROOT, "ceilings: f16 GEMM 8192^3 %.0f TFLOP/s; device copy 128 MiB %.0f GB/s (read +"
                    + " write); %.2f TFLOP per step at that GEMM rate: floor %.2f ms/step; graph step is %.1fx the floor%n",
                    gemmTflops, copyGbs, flopsPerStep / 1e12, floorMs, graphT.medianMs() / floorMs);
            put("gemm_tflops", gemmTflops);
            put("copy_gb_s", copyGbs);
            put("floor_ms_at_gemm_rate", floorMs);

            // memory
            long[] memEnd = cuda.deviceMemory();
            System.out.printf(Locale.ROOT, "memory: arena %.1f GB reserved at start (cuMemGetInfo: %.1f of %.1f GB in use"
                    + " after start, %.1f GB now); weights %.2f GB; eager step peak %.2f GB above the weights; graph keeps"
                    + " %.2f GB; arena high-water mark since the eager steps %.2f GB%n",
                    cuda.arenaCapacity() / 1e9, (memStart[1] - memStart[0]) / 1e9, memStart[1] / 1e9,
                    (memEnd[1] - memEnd[0]) / 1e9, weightBytes / 1e9, eagerPeak / 1e9, graphHeld / 1e9, cuda.arenaPeak() / 1e9);
            put("arena_reserved_gb", cuda.arenaCapacity() / 1e9);
            put("eager_step_peak_gb", eagerPeak / 1e9);
            put("graph_held_gb", graphHeld / 1e9);
            put("device_used_gb", (memEnd[1] - memEnd[0]) / 1e9);
        }
        System.out.println();
        System.out.println("SUMMARY");
        SUMMARY.forEach((k, v) -> System.out.println(k + " = " + v));
    }

    /** Per-step event times and host-clock times of {@code steps} steps. */
    record Timing(double[] ms, double[] wallMs) {
        double medianMs() { return CudaBench.median(ms); }

        double medianWallMs() { return CudaBench.median(wallMs); }
    }

    private static Timing timeSteps(CudaBackend cuda, UNetRunner runner, Tensor sample, double[] t, Tensor context, int steps) {
        List<CudaEvent> events = new ArrayList<>();
        double[] wall = new double[steps];
        try {
            for (int i = 0; i < 2 * steps; i++) events.add(CudaEvent.create());
            for (int i = 0; i < steps; i++) {
                long w = System.nanoTime();
                cuda.record(events.get(2 * i));
                runner.predict(sample, t, context);
                cuda.record(events.get(2 * i + 1));
                wall[i] = (System.nanoTime() - w) / 1e6;
            }
            cuda.synchronize();
            double[] ms = new double[steps];
            for (int i = 0; i < steps; i++) ms[i] = CudaEvent.elapsedMillis(events.get(2 * i), events.get(2 * i + 1));
            return new Timing(ms, wall);
        } finally {
            for (CudaEvent e : events) e.close();
        }
    }

    private static void report(String mode, Timing timing) {
        double[] s = timing.ms().clone();
        java.util.Arrays.sort(s);
        System.out.printf(Locale.ROOT, "%s: %d steps, GPU (events) median %.3f ms = %.2f steps/s (min %.3f, max %.3f);"
                        + " host clock median %.3f ms%n", mode, s.length, timing.medianMs(), 1000 / timing.medianMs(), s[0],
                s[s.length - 1], timing.medianWallMs());
    }

    /**
     * {TFLOP/s of an 8192×8192×8192 f16 product through the backend's linear (cuBLASLt), GB/s (read plus written) of a
     * 128 MiB device-to-device copy}, medians of 10 runs after 3, on random data.
     */
    private static double[] ceilings(CudaBackend cuda) {
        int n = 8192;
        Tensor a = cuda.upload(CudaBench.gaussian(11, n, n)), b = cuda.upload(CudaBench.gaussian(12, n, n)); // [n, n] f16
        double gemmMs = CudaBench.median(timeOp(cuda, () -> cuda.linear(a, b, null), 3, 10));
        Tensor copy = cuda.scale(a, 0.5f);
        double copyMs = CudaBench.median(timeOp(cuda, () -> cuda.copyInto(a, copy), 3, 10));
        return new double[] {2.0 * n * n * n / (gemmMs * 1e9), 2.0 * a.numel() * 2 / (copyMs * 1e6)};
    }

    private static double[] timeOp(CudaBackend cuda, Runnable op, int warmup, int runs) {
        for (int i = 0; i < warmup; i++) op.run();
        double[] ms = new double[runs];
        try (CudaEvent start = CudaEvent.create(); CudaEvent end = CudaEvent.create()) {
            for (int i = 0; i < runs; i++) {
                cuda.record(start);
                op.run();
                cuda.record(end);
                end.synchronize();
                ms[i] = CudaEvent.elapsedMillis(start, end);
            }
        }
        return ms;
    }

    private static long settledArena(CudaBackend cuda) {
        cuda.synchronize();
        for (int i = 0; i < 3; i++) {
            System.gc();
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return cuda.arenaUsed();
    }

    private static void requireFinite(String what, Tensor t) {
        for (float v : t.toFloatArray()) {
            if (!Float.isFinite(v)) throw new IllegalStateException(what + " has a non-finite value");
        }
    }

    private static void put(String key, double value) { SUMMARY.put(key, String.format(Locale.ROOT, "%.4g", value)); }

    private static double seconds(long since) { return (System.nanoTime() - since) / 1e9; }
}
