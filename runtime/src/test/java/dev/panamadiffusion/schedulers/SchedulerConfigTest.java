package dev.panamadiffusion.schedulers;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class SchedulerConfigTest {
    @Test
    void readsEveryReferenceConfig() {
        Path tiny = LoopRecord.referenceDir().resolve("tiny");
        SchedulerConfig dpm = SchedulerConfig.read(tiny.resolve("scheduler_dpmpp2m_karras/scheduler_config.json"));
        assertEquals("DPMSolverMultistepScheduler", dpm.className());
        assertEquals("0.27.2", dpm.diffusersVersion());
        assertEquals(Double.NEGATIVE_INFINITY, dpm.lambdaMinClipped()); // written as -Infinity
        assertEquals(true, dpm.useKarrasSigmas());
        assertEquals(2, dpm.solverOrder());
        assertEquals("dpmsolver++", dpm.algorithmType());
        assertEquals("midpoint", dpm.solverType());
        assertEquals("zero", dpm.finalSigmasType());
        assertEquals(true, dpm.lowerOrderFinal());
        assertNull(dpm.trainedBetas());
        assertNull(dpm.varianceType());

        SchedulerConfig ddim = SchedulerConfig.read(tiny.resolve("scheduler_ddim/scheduler_config.json"));
        assertEquals("DDIMScheduler", ddim.className());
        assertEquals(1000, ddim.numTrainTimesteps());
        assertEquals(0.00085, ddim.betaStart());
        assertEquals(0.012, ddim.betaEnd());
        assertEquals("scaled_linear", ddim.betaSchedule());
        assertEquals(false, ddim.clipSample());
        assertEquals(false, ddim.setAlphaToOne());
        assertEquals(1, ddim.stepsOffset());
        assertEquals("leading", ddim.timestepSpacing());
        assertEquals("epsilon", ddim.predictionType());
        assertNull(ddim.useKarrasSigmas(), "absent keys stay null");

        SchedulerConfig pndm = SchedulerConfig.read(tiny.resolve("scheduler_pndm/scheduler_config.json"));
        assertEquals(true, pndm.skipPrkSteps());
        SchedulerConfig euler = SchedulerConfig.read(tiny.resolve("scheduler_euler/scheduler_config.json"));
        assertEquals("linear", euler.interpolationType());
        assertEquals("discrete", euler.timestepType());
        assertNull(euler.sigmaMin());
    }

    @Test
    void missingFileIsAClearError(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SchedulerConfig.read(dir.resolve("scheduler_config.json")));
        assertTrue(e.getMessage().contains("scheduler_config.json"), e.getMessage());
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, "{\"num_train_timesteps\": \"many\"}");
        assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.read(bad));
    }

    @Test
    void trainedBetasAndNonNumericValuesParse() {
        SchedulerConfig c = SchedulerConfig.parse("""
                {"trained_betas": [0.1, 0.2, 0.3], "lambda_min_clipped": NaN, "sigma_max": Infinity, "extra_key": 1}""");
        assertArrayEquals(new double[] {0.1, 0.2, 0.3}, c.trainedBetas());
        assertTrue(c.lambdaMinClipped().isNaN());
        assertEquals(Double.POSITIVE_INFINITY, c.sigmaMax());
    }

    @Test
    void sd15DefaultsAreTheShippedConfig() {
        SchedulerConfig c = SchedulerConfig.sd15();
        assertEquals("PNDMScheduler", c.className());
        assertEquals(1000, c.numTrainTimesteps());
        assertEquals(0.00085, c.betaStart());
        assertEquals(0.012, c.betaEnd());
        assertEquals("scaled_linear", c.betaSchedule());
        assertEquals(false, c.setAlphaToOne());
        assertEquals(true, c.skipPrkSteps());
        assertEquals(1, c.stepsOffset());
        assertEquals(false, c.clipSample());
        assertNull(c.timestepSpacing(), "SD 1.5's file has no timestep_spacing");
    }

    @Test
    void withReplacesAndWithDefaultsFillsOnlyMissingKeys() {
        SchedulerConfig c = SchedulerConfig.sd15().with(Map.of("use_karras_sigmas", true, "solver_order", 3));
        assertEquals(true, c.useKarrasSigmas());
        assertEquals(3, c.solverOrder());
        assertEquals(0.00085, c.betaStart(), "other keys kept");
        assertThrows(IllegalArgumentException.class, () -> c.with("no_such_key", 1));

        SchedulerConfig filled = SchedulerConfig.sd15().withDefaults(DDIMScheduler.DEFAULTS);
        assertEquals(false, filled.clipSample(), "present key kept");
        assertEquals("leading", filled.timestepSpacing(), "missing key from the defaults");
        assertEquals("PNDMScheduler", filled.className());
        assertEquals(1.0, filled.clipSampleRange());
    }

    @Test
    void equalityIsByValue() {
        SchedulerConfig a = SchedulerConfig.parse("{\"trained_betas\": [0.1, 0.2], \"steps_offset\": 1}");
        SchedulerConfig b = SchedulerConfig.parse("{\"steps_offset\": 1, \"trained_betas\": [0.1, 0.2]}");
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertNotEquals(a, a.with("steps_offset", 0));
        assertEquals(SchedulerConfig.sd15(), SchedulerConfig.sd15());
        assertTrue(a.toString().contains("\"steps_offset\":1"), a.toString());
        assertFalse(a.toString().contains("null"), a.toString());
    }
}
