package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.config.ConfigException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The scheduler config's range checks at their edges, and numpy's interp, linspace and arange as the schedules use them. */
class SchedulerPartsTest {
    private static void accepted(String json) { SchedulerConfig.parse(json); }

    private static String refused(String key, String json) {
        ConfigException e = assertThrows(ConfigException.class, () -> SchedulerConfig.parse(json), json);
        assertEquals(key, e.field(), e.getMessage());
        return e.problem();
    }

    @Test
    void configRangesAtTheirEdges() {
        accepted("{\"num_train_timesteps\": 1}");
        accepted("{\"num_train_timesteps\": 100000}");
        assertEquals("0 is out of range [1, 100000]", refused("num_train_timesteps", "{\"num_train_timesteps\": 0}"));
        refused("num_train_timesteps", "{\"num_train_timesteps\": 100001}");
        accepted("{\"trained_betas\": [0.0, 0.5]}");
        refused("trained_betas", "{\"trained_betas\": []}");
        refused("trained_betas", "{\"trained_betas\": [0.1, 1.0]}");
        refused("trained_betas", "{\"trained_betas\": [-0.1]}");
        accepted("{\"beta_start\": 0, \"beta_end\": 1}");
        refused("beta_start", "{\"beta_start\": -0.001}");
        refused("beta_end", "{\"beta_end\": 1.001}");
        accepted("{\"steps_offset\": 0}");
        accepted("{\"num_train_timesteps\": 10, \"steps_offset\": 9}");
        assertEquals("10 is out of range [0, 9]", refused("steps_offset", "{\"num_train_timesteps\": 10, \"steps_offset\": 10}"));
        refused("steps_offset", "{\"steps_offset\": -1}");
        accepted("{\"steps_offset\": 99999}");
        refused("steps_offset", "{\"steps_offset\": 100000}");
        accepted("{\"solver_order\": 1}");
        accepted("{\"solver_order\": 3}");
        refused("solver_order", "{\"solver_order\": 0}");
        refused("solver_order", "{\"solver_order\": 4}");
        accepted("{\"clip_sample_range\": 1e-9, \"sample_max_value\": 1e300}");
        refused("clip_sample_range", "{\"clip_sample_range\": 0}");
        assertEquals("-1.0 is not a positive finite number", refused("sample_max_value", "{\"sample_max_value\": -1}"));
        refused("sample_max_value", "{\"sample_max_value\": Infinity}");
        accepted("{\"sigma_min\": 1e-9, \"sigma_max\": Infinity}");
        refused("sigma_min", "{\"sigma_min\": 0}");
        refused("sigma_max", "{\"sigma_max\": 0}");
        refused("sigma_max", "{\"sigma_max\": NaN}");
        accepted("{\"dynamic_thresholding_ratio\": 1}");
        accepted("{\"dynamic_thresholding_ratio\": 1e-9}");
        refused("dynamic_thresholding_ratio", "{\"dynamic_thresholding_ratio\": 0}");
        refused("dynamic_thresholding_ratio", "{\"dynamic_thresholding_ratio\": 1.001}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.parse("null")).getMessage().contains("empty"));
        // with() checks too
        assertThrows(ConfigException.class, () -> SchedulerConfig.sd15().with("beta_end", 2.0));
    }

    @Test
    void configEqualityIsByValue() {
        assertEquals(SchedulerConfig.sd15(), SchedulerConfig.sd15());
        assertEquals(SchedulerConfig.sd15().hashCode(), SchedulerConfig.sd15().hashCode());
        assertNotEquals(SchedulerConfig.sd15(), SchedulerConfig.sd15().with("steps_offset", 0));
        assertNotEquals(SchedulerConfig.sd15().hashCode(), SchedulerConfig.sd15().with("beta_end", 0.02).hashCode());
        assertEquals("x", SchedulerConfig.required("x", "k"));
        assertEquals("scheduler config has no value for k",
                assertThrows(IllegalStateException.class, () -> SchedulerConfig.required(null, "k")).getMessage());
    }

    @Test
    void interpIsNumpysClampedAtBothEnds() {
        float[] fp = {1f, 3f, 7f};
        assertEquals(1.0, Sigmas.interp(-0.5, fp));
        assertEquals(1.0, Sigmas.interp(0, fp));
        assertEquals(2.0, Sigmas.interp(0.5, fp));
        assertEquals(3.0, Sigmas.interp(1, fp));
        assertEquals(6.0, Sigmas.interp(1.75, fp));
        assertEquals(7.0, Sigmas.interp(2, fp));
        assertEquals(7.0, Sigmas.interp(9, fp));
        assertTrue(Double.isNaN(Sigmas.interp(Double.NaN, fp)));
        assertTrue(Double.isNaN(Sigmas.interp(Double.NaN, new float[] {5f})), "NaN, not an index past the one value");
        assertEquals(5.0, Sigmas.interp(3, new float[] {5f}));
    }

    @Test
    void sigmaToTInterpolatesBetweenTheNeighbouringLogSigmas() {
        float[] logSigmas = {(float) Math.log(1), (float) Math.log(2), (float) Math.log(4), (float) Math.log(8)};
        assertEquals(0.0, Sigmas.sigmaToT(1, logSigmas), 1e-6);
        assertEquals(1.0, Sigmas.sigmaToT(2, logSigmas), 1e-6);
        assertEquals(1.5, Sigmas.sigmaToT(Math.sqrt(8), logSigmas), 1e-6);
        assertEquals(3.0, Sigmas.sigmaToT(8, logSigmas), 1e-6);
        assertEquals(3.0, Sigmas.sigmaToT(100, logSigmas), 1e-6, "clamped above");
        assertEquals(0.0, Sigmas.sigmaToT(0.5, logSigmas), 1e-6, "clamped below");
        assertEquals(0.0, Sigmas.sigmaToT(0, logSigmas), 1e-6);
    }

    @Test
    void linspaceAndArangeAsNumpy() {
        assertArrayEquals(new double[0], Spacing.linspace(0, 1, 0));
        assertArrayEquals(new double[] {2}, Spacing.linspace(2, 5, 1));
        assertArrayEquals(new double[] {0, 0.25, 0.5, 0.75, 1}, Spacing.linspace(0, 1, 5));
        assertArrayEquals(new double[] {3, 2, 1}, Spacing.linspace(3, 1, 3));
        assertArrayEquals(new double[] {4, 4, 4}, Spacing.linspace(4, 4, 3));
        // a step that underflows to 0: numpy scales i / div by delta instead
        double[] tiny = Spacing.linspace(0, Double.MIN_VALUE, 4);
        assertArrayEquals(new double[] {0, 0, Double.MIN_VALUE, Double.MIN_VALUE}, tiny);
        assertArrayEquals(new double[0], Spacing.arange(0, 0, 1));
        assertArrayEquals(new double[0], Spacing.arange(1, 0, 1));
        assertArrayEquals(new double[] {5}, Spacing.arange(5, 5.5, 1));
        assertArrayEquals(new double[] {0, 1, 2}, Spacing.arange(0, 3, 1));
        assertArrayEquals(new double[] {0, 1, 2, 3}, Spacing.arange(0, 3.5, 1));
        assertArrayEquals(new double[] {10, 7.5, 5, 2.5}, Spacing.arange(10, 0, -2.5));
    }
}
