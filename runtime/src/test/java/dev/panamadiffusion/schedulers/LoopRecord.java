package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A denoising loop recorded from diffusers 0.27.2 ({@code shared/reference/tiny/loop_<name>_cfg7.5.safetensors}) and
 * its scheduler config, replayed through one of our schedulers with the recorded guided model outputs.
 */
final class LoopRecord {
    final String name;
    final Map<String, Tensor> tensors;
    final SchedulerConfig config;

    private LoopRecord(String name, Map<String, Tensor> tensors, SchedulerConfig config) {
        this.name = name;
        this.tensors = tensors;
        this.config = config;
    }

    static Path referenceDir() {
        String dir = System.getProperty("pd.reference");
        assertNotNull(dir, "system property pd.reference is not set");
        Path p = Path.of(dir);
        assertTrue(Files.isDirectory(p), "missing reference directory " + p);
        return p;
    }

    static LoopRecord load(String name) {
        Path tiny = referenceDir().resolve("tiny");
        Path file = tiny.resolve("loop_" + name + "_cfg7.5.safetensors");
        assertTrue(Files.isRegularFile(file), "missing " + file);
        return new LoopRecord(name, SafeTensors.readAll(file),
                SchedulerConfig.read(tiny.resolve("scheduler_" + name).resolve("scheduler_config.json")));
    }

    /**
     * A loop file anywhere ({@code loop_<name>[_cfg<g>].safetensors}) with its {@code scheduler_<name>/} beside it, as
     * {@code pdiff verify} pairs them (e.g. the repository's {@code reference/few-step} sets).
     */
    static LoopRecord load(Path loopFile) {
        assertTrue(Files.isRegularFile(loopFile), "missing " + loopFile);
        String scheduler = dev.panamadiffusion.verify.ReferenceSet.loopScheduler(loopFile);
        Path config = loopFile.resolveSibling("scheduler_" + scheduler).resolve("scheduler_config.json");
        String file = loopFile.getFileName().toString();
        return new LoopRecord(file.substring(0, file.length() - ".safetensors".length()), SafeTensors.readAll(loopFile),
                SchedulerConfig.read(config));
    }

    /** The repository's {@code reference/<name>} (system property {@code pd.home}, set by the build). */
    static Path repositoryReference(String name) {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference").resolve(name);
        assertTrue(Files.isDirectory(p), "missing " + p + " (-Dpd.home)");
        return p;
    }

    Tensor get(String key) {
        Tensor t = tensors.get(key);
        assertNotNull(t, name + ": no tensor " + key);
        return t;
    }

    int iterations() {
        return Math.toIntExact(get("timesteps").numel());
    }

    double[] timesteps() {
        Tensor t = get("timesteps");
        double[] out = new double[Math.toIntExact(t.numel())];
        for (int i = 0; i < out.length; i++) out[i] = t.getDouble(i);
        return out;
    }

    /** The number of inference steps the loop was made with (PNDM runs one iteration more). */
    int numInferenceSteps() {
        return tensors.containsKey("num_inference_steps") ? (int) get("num_inference_steps").getLong(0) : iterations();
    }

    /**
     * A generator that hands out the recorded noise of each step that drew some, in order (LCM draws none at its last
     * step, so one LCM step records none); drawing more fails.
     */
    NoiseGenerator recordedAncestralNoise() {
        Deque<Tensor> queue = new ArrayDeque<>();
        for (int i = 0; i < iterations(); i++) {
            if (tensors.containsKey("step" + i + "_ancestral_noise")) queue.add(get("step" + i + "_ancestral_noise"));
        }
        return shape -> {
            Tensor next = queue.poll();
            assertNotNull(next, "more noise drawn than the loop recorded");
            assertArrayEquals(next.shape(), shape, "noise shape");
            return next;
        };
    }

    /**
     * Replays the loop: checks the schedule (timesteps, initial noise sigma, sigmas where recorded), then per
     * iteration the scaled model input and the latents after the step. Returns the largest relative error seen.
     */
    double replay(Scheduler scheduler, NoiseGenerator noise, double tolerance) {
        scheduler.setTimesteps(numInferenceSteps());
        double[] expectedT = timesteps();
        double[] actualT = scheduler.timesteps();
        assertEquals(expectedT.length, actualT.length, name + ": number of timesteps " + Arrays.toString(actualT));
        for (int i = 0; i < expectedT.length; i++) {
            assertEquals((float) expectedT[i], (float) actualT[i], name + ": timestep " + i + " of " + Arrays.toString(actualT));
        }
        assertEquals(get("init_noise_sigma").getDouble(0), scheduler.initNoiseSigma(),
                Math.abs(get("init_noise_sigma").getDouble(0)) * 1e-6, name + ": init_noise_sigma");
        double worst = relError(get("init_latents"), scale(get("noise"), scheduler.initNoiseSigma()));
        Tensor latents = get("init_latents");
        for (int i = 0; i < iterations(); i++) {
            Tensor modelInput = scheduler.scaleModelInput(latents, i);
            Tensor recordedInput = get("step" + i + "_model_input").slice(0, 0, 1).contiguous();
            worst = Math.max(worst, check(recordedInput, modelInput, tolerance, "step " + i + " model input"));
            latents = scheduler.step(get("step" + i + "_guided"), i, latents, noise);
            worst = Math.max(worst, check(get("step" + i + "_latents_out"), latents, tolerance, "step " + i + " latents"));
        }
        worst = Math.max(worst, check(get("final_latents"), latents, tolerance, "final latents"));
        return worst;
    }

    void checkSigmas(float[] actual, double tolerance) {
        float[] expected = get("sigmas").toFloatArray();
        assertEquals(expected.length, actual.length, name + ": sigmas " + Arrays.toString(actual));
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], Math.abs(expected[i]) * tolerance, name + ": sigma " + i
                    + " of " + Arrays.toString(actual) + " vs " + Arrays.toString(expected));
        }
    }

    private double check(Tensor expected, Tensor actual, double tolerance, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), name + ": " + what + " shape");
        double err = relError(expected, actual);
        assertTrue(err <= tolerance, name + ": " + what + " relative error " + err + " > " + tolerance);
        return err;
    }

    /** max |a - e| / max |e| */
    static double relError(Tensor expected, Tensor actual) {
        float[] e = expected.toFloatArray();
        float[] a = actual.toFloatArray();
        assertEquals(e.length, a.length);
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < e.length; i++) {
            assertFalse(Float.isNaN(a[i]), "NaN at " + i);
            maxDiff = Math.max(maxDiff, Math.abs((double) a[i] - e[i]));
            maxRef = Math.max(maxRef, Math.abs(e[i]));
        }
        return maxDiff / maxRef;
    }

    private static Tensor scale(Tensor t, double s) {
        float[] v = t.toFloatArray();
        for (int i = 0; i < v.length; i++) v[i] = v[i] * (float) s;
        return Tensor.fromFloats(v, t.shape());
    }

    static List<String> names() {
        return List.of("ddim", "pndm", "euler", "euler_a", "dpmpp2m", "dpmpp2m_karras", "lms");
    }
}
