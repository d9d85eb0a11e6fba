package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;

import static dev.panamadiffusion.pipeline.Gaussian.gaussian;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * GraphedUNet on the CUDA backend with the tiny reference UNet: CUDA-graph replays against eager CUDA passes (same
 * kernels, so near-identical) and against the CPU backend (f16 tolerance), on new inputs at every step; replays take
 * no arena memory. Skipped without a GPU.
 */
@Tag("gpu")
class GraphedUNetGpuTest {

    /** max |a − b| / max |b|. */
    private static double relError(Tensor a, Tensor b) {
        float[] x = a.toFloatArray(), y = b.toFloatArray();
        double worst = 0, scale = 0;
        for (int i = 0; i < x.length; i++) {
            if (!Float.isFinite(x[i])) return Double.POSITIVE_INFINITY;
            worst = Math.max(worst, Math.abs((double) x[i] - y[i]));
            scale = Math.max(scale, Math.abs(y[i]));
        }
        return worst / scale;
    }

    @Test
    void replaysMatchEagerPassesAndTheCpu() {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        try (Arena arena = Arena.ofShared(); CudaBackend cuda = new CudaBackend(1L << 30); CpuBackend cpu = new CpuBackend()) {
            UNet2DConditionModel onCuda = UNet2DConditionModel.load(Reference.tiny().resolve("unet"), cuda, arena);
            UNet2DConditionModel onCpu = UNet2DConditionModel.load(Reference.tiny().resolve("unet"), cpu, arena);
            EagerUNet eager = new EagerUNet(onCuda, cuda);
            EagerUNet reference = new EagerUNet(onCpu, cpu);
            Tensor hostContext = gaussian(10, 2, 77, 32);
            Tensor context = cuda.upload(hostContext), cpuContext = cpu.upload(hostContext);
            double[][] steps = {{999, 999}, {700, 700}, {300, 310}, {1, 1}};
            try (UNetRunner runner = UNetRunner.create(onCuda, cuda)) {
                GraphedUNet graphed = assertInstanceOf(GraphedUNet.class, runner);
                Tensor previous = null;
                for (int i = 0; i < steps.length; i++) {
                    Tensor sample = gaussian(i, 2, 4, 8, 8);
                    Tensor got = graphed.predict(sample, steps[i], context);
                    double vsEager = relError(got, eager.predict(sample, steps[i], context));
                    double vsCpu = relError(got, reference.predict(sample, steps[i], cpuContext));
                    System.out.printf("[gpu] graphed step %d: rel error vs eager CUDA %.2e, vs CPU %.2e%n", i, vsEager, vsCpu);
                    assertTrue(vsEager <= 1e-3, "step " + i + ": graph vs eager CUDA " + vsEager);
                    assertTrue(vsCpu <= 2e-2, "step " + i + ": graph vs CPU " + vsCpu);
                    if (previous != null) assertTrue(relError(got, previous) > 1e-2, "step " + i + " repeated the last output");
                    previous = got;
                }
                assertEquals(1, graphed.captures());
                assertEquals(steps.length - 1, graphed.replays());

                // replays allocate nothing that outlives them: the arena settles
                Tensor sample = gaussian(9, 2, 4, 8, 8);
                double[] t = {500, 500};
                for (int i = 0; i < 5; i++) graphed.predict(sample, t, context);
                long settled = settledArena(cuda);
                for (int i = 0; i < 50; i++) graphed.predict(sample, t, context);
                long after = settledArena(cuda);
                assertTrue(after <= settled + (1L << 20), "arena grew from " + settled + " to " + after + " over 50 replays");
            }
        }
    }

    /**
     * A cache of one shape: recording a second shape evicts the first, whose graph's intermediates return to the arena,
     * so the arena holds one recording at a time; releasing the recordings gives back the last.
     */
    @Test
    void evictedGraphsGiveTheirMemoryBack() {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        try (Arena arena = Arena.ofShared(); CudaBackend cuda = new CudaBackend(256L << 20)) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(Reference.tiny().resolve("unet"), cuda, arena);
            Tensor context = cuda.upload(gaussian(10, 2, 77, 32));
            long base = settledArena(cuda);
            try (GraphedUNet graphed = new GraphedUNet(unet, cuda, 1)) {
                graphed.predict(gaussian(1, 2, 4, 8, 8), new double[] {900, 900}, context);
                long small = settledArena(cuda) - base;
                graphed.predict(gaussian(2, 2, 4, 16, 16), new double[] {900, 900}, context);
                long large = settledArena(cuda) - base;
                graphed.predict(gaussian(3, 2, 4, 8, 8), new double[] {800, 800}, context);
                long smallAgain = settledArena(cuda) - base;
                System.out.printf("[gpu] arena held by one recorded graph: 8x8 %d bytes, 16x16 %d, 8x8 again %d%n", small, large, smallAgain);
                assertEquals(2, graphed.evictions());
                assertTrue(small > 0 && large > 2 * small, "a 16x16 recording holds more than an 8x8 one: " + small + ", " + large);
                assertEquals(small, smallAgain, "the 16x16 graph's memory was not given back when it was evicted");
                graphed.releaseRecordings();
                assertEquals(base, settledArena(cuda), "releasing the recordings leaves the arena as before them");
            }
        }
    }

    /** Arena bytes in use once unreachable temporaries have been collected. */
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
}
