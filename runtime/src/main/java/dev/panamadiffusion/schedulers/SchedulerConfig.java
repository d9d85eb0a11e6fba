package dev.panamadiffusion.schedulers;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.config.ConfigJson;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;

/**
 * A diffusers {@code scheduler_config.json}: the union of the constructor arguments of the schedulers in this package
 * (diffusers 0.27.2). A component is {@code null} when the file does not have the key; each scheduler then uses its
 * own diffusers default (see {@link #withDefaults}), exactly as {@code SchedulerClass.from_config} does.
 *
 * <p>{@code trainedBetas}, {@code sigmaMin}, {@code sigmaMax} and {@code varianceType} are also {@code null} when
 * diffusers' value is {@code None}.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record SchedulerConfig(
        @JsonProperty("_class_name") String className,
        @JsonProperty("_diffusers_version") String diffusersVersion,
        Integer numTrainTimesteps,
        Double betaStart,
        Double betaEnd,
        String betaSchedule, // linear, scaled_linear or squaredcos_cap_v2
        double[] trainedBetas,
        String predictionType, // epsilon, v_prediction or sample
        String timestepSpacing, // leading, linspace or trailing
        Integer stepsOffset,
        Boolean setAlphaToOne,
        Boolean clipSample,
        Double clipSampleRange,
        Boolean thresholding,
        Double dynamicThresholdingRatio,
        Double sampleMaxValue,
        Boolean rescaleBetasZeroSnr,
        Boolean skipPrkSteps,
        Boolean useKarrasSigmas,
        Double sigmaMin,
        Double sigmaMax,
        String interpolationType, // linear or log_linear
        String timestepType, // discrete or continuous
        String algorithmType, // dpmsolver++, dpmsolver, sde-dpmsolver++ or sde-dpmsolver
        Integer solverOrder,
        String solverType, // midpoint or heun
        Boolean lowerOrderFinal,
        Boolean eulerAtFinal,
        Boolean useLuLambdas,
        String finalSigmasType, // zero or sigma_min
        Double lambdaMinClipped,
        String varianceType,
        Integer originalInferenceSteps, // LCMScheduler: the distillation schedule's length
        Double timestepScaling) {       // LCMScheduler: t multiplier in the boundary-condition scalings

    /** Stable Diffusion 1.5's {@code scheduler/scheduler_config.json}, key for key. */
    public static SchedulerConfig sd15() {
        return parse("""
                {
                  "_class_name": "PNDMScheduler",
                  "_diffusers_version": "0.6.0",
                  "beta_end": 0.012,
                  "beta_schedule": "scaled_linear",
                  "beta_start": 0.00085,
                  "num_train_timesteps": 1000,
                  "set_alpha_to_one": false,
                  "skip_prk_steps": true,
                  "steps_offset": 1,
                  "trained_betas": null,
                  "clip_sample": false
                }""");
    }

    /** Reads a {@code scheduler_config.json}; problems are an {@link IllegalArgumentException} naming the file. */
    public static SchedulerConfig read(Path file) {
        SchedulerConfig c = ConfigJson.read(file, SchedulerConfig.class);
        c.check(file);
        return c;
    }

    /** Most training timesteps a config may give (Stable Diffusion trains with 1,000; the tables are this long). */
    public static final int MAX_TRAIN_TIMESTEPS = 100_000;

    /**
     * Throws a {@link ConfigException} naming {@code file} (null: a config built in code) and the key of the first
     * value no scheduler can run with: sizes that would allocate without bound, zero or negative counts, betas outside
     * [0, 1]. (Infinity for sigma_max and NaN or -Infinity for lambda_min_clipped are diffusers' own spellings and pass.)
     */
    public void check(Path file) {
        if (numTrainTimesteps != null && (numTrainTimesteps < 1 || numTrainTimesteps > MAX_TRAIN_TIMESTEPS)) {
            throw new ConfigException(file, "num_train_timesteps", numTrainTimesteps + " is out of range [1, " + MAX_TRAIN_TIMESTEPS + "]");
        }
        if (trainedBetas != null) {
            if (trainedBetas.length < 1 || trainedBetas.length > MAX_TRAIN_TIMESTEPS) {
                throw new ConfigException(file, "trained_betas", "has " + trainedBetas.length + " entries; 1 to " + MAX_TRAIN_TIMESTEPS + " are accepted");
            }
            for (double b : trainedBetas) {
                if (!(b >= 0 && b < 1)) throw new ConfigException(file, "trained_betas", "has " + b + ", outside [0, 1)");
            }
        }
        unit(file, "beta_start", betaStart);
        unit(file, "beta_end", betaEnd);
        int steps = numTrainTimesteps == null ? MAX_TRAIN_TIMESTEPS : numTrainTimesteps;
        if (stepsOffset != null && (stepsOffset < 0 || stepsOffset >= steps)) {
            throw new ConfigException(file, "steps_offset", stepsOffset + " is out of range [0, " + (steps - 1) + "]");
        }
        if (solverOrder != null && (solverOrder < 1 || solverOrder > 3)) {
            throw new ConfigException(file, "solver_order", solverOrder + " is out of range [1, 3]");
        }
        positive(file, "clip_sample_range", clipSampleRange);
        positive(file, "sample_max_value", sampleMaxValue);
        if (sigmaMin != null && !(sigmaMin > 0)) throw new ConfigException(file, "sigma_min", sigmaMin + " is not positive");
        if (sigmaMax != null && !(sigmaMax > 0)) throw new ConfigException(file, "sigma_max", sigmaMax + " is not positive");
        if (originalInferenceSteps != null && (originalInferenceSteps < 1 || originalInferenceSteps > steps)) {
            throw new ConfigException(file, "original_inference_steps", originalInferenceSteps + " is out of range [1, " + steps + "]");
        }
        if (timestepScaling != null && !(Math.abs(timestepScaling) < Double.POSITIVE_INFINITY)) {
            throw new ConfigException(file, "timestep_scaling", timestepScaling + " is not a finite number");
        }
        if (dynamicThresholdingRatio != null && !(dynamicThresholdingRatio > 0 && dynamicThresholdingRatio <= 1)) {
            throw new ConfigException(file, "dynamic_thresholding_ratio", dynamicThresholdingRatio + " is out of range (0, 1]");
        }
    }

    private static void unit(Path file, String key, Double v) {
        if (v != null && !(v >= 0 && v <= 1)) throw new ConfigException(file, key, v + " is out of range [0, 1]");
    }

    private static void positive(Path file, String key, Double v) {
        if (v != null && !(v > 0 && v < Double.POSITIVE_INFINITY)) throw new ConfigException(file, key, v + " is not a positive finite number");
    }

    /** A config from JSON text in the {@code scheduler_config.json} format. */
    public static SchedulerConfig parse(String json) {
        try {
            SchedulerConfig c = ConfigJson.MAPPER.readValue(json, SchedulerConfig.class);
            if (c == null) throw new IllegalArgumentException("not a scheduler config: empty");
            c.check(null);
            return c;
        } catch (IOException e) {
            throw new IllegalArgumentException("not a scheduler config: " + ConfigJson.oneLine(e), e);
        }
    }

    /** This config with one key replaced ({@code key} as in the JSON file, e.g. {@code "use_karras_sigmas"}). */
    public SchedulerConfig with(String key, Object value) {
        return with(Map.of(key, value));
    }

    /** This config with keys replaced (keys as in the JSON file); an unknown key is an IllegalArgumentException. */
    public SchedulerConfig with(Map<String, ?> values) {
        ObjectNode tree = ConfigJson.MAPPER.valueToTree(this);
        for (Map.Entry<String, ?> e : values.entrySet()) {
            if (!tree.has(e.getKey())) {
                throw new IllegalArgumentException("unknown scheduler config key '" + e.getKey() + "'");
            }
            tree.set(e.getKey(), ConfigJson.MAPPER.valueToTree(e.getValue()));
        }
        return fromTree(tree);
    }

    /**
     * This config with every key it lacks taken from {@code defaults}: what diffusers' {@code register_to_config}
     * does when a scheduler is built from a config file (missing constructor arguments take their default values).
     */
    public SchedulerConfig withDefaults(SchedulerConfig defaults) {
        ObjectNode tree = ConfigJson.MAPPER.valueToTree(this);
        ObjectNode fallback = ConfigJson.MAPPER.valueToTree(defaults);
        for (Iterator<Map.Entry<String, JsonNode>> it = fallback.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode mine = tree.get(e.getKey());
            if (mine == null || mine.isNull()) tree.set(e.getKey(), e.getValue());
        }
        return fromTree(tree);
    }

    private static SchedulerConfig fromTree(ObjectNode tree) {
        try {
            SchedulerConfig c = ConfigJson.MAPPER.treeToValue(tree, SchedulerConfig.class);
            c.check(null);
            return c;
        } catch (IOException e) {
            throw new IllegalArgumentException("invalid scheduler config value: " + ConfigJson.oneLine(e), e);
        }
    }

    /** Equal when every key has the same value (arrays compared element by element). */
    @Override
    public boolean equals(Object o) {
        return o instanceof SchedulerConfig other
                && ConfigJson.MAPPER.valueToTree(this).equals(ConfigJson.MAPPER.valueToTree(other));
    }

    @Override
    public int hashCode() {
        return ConfigJson.MAPPER.valueToTree(this).hashCode();
    }

    /** The keys that have a value, as JSON. */
    @Override
    public String toString() {
        ObjectNode tree = ConfigJson.MAPPER.valueToTree(this);
        ObjectNode present = tree.objectNode();
        tree.fields().forEachRemaining(e -> {
            if (!e.getValue().isNull()) present.set(e.getKey(), e.getValue());
        });
        return "SchedulerConfig" + present;
    }

    /** The value of a key a scheduler's defaults always provide; {@code null} there is a programming error. */
    static <T> T required(T value, String key) {
        if (value == null) throw new IllegalStateException("scheduler config has no value for " + key);
        return value;
    }
}
