package dev.panamadiffusion.schedulers;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
        String varianceType) {

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
        return ConfigJson.read(file, SchedulerConfig.class);
    }

    /** A config from JSON text in the {@code scheduler_config.json} format. */
    public static SchedulerConfig parse(String json) {
        try {
            return ConfigJson.MAPPER.readValue(json, SchedulerConfig.class);
        } catch (IOException e) {
            throw new IllegalArgumentException("not a scheduler config: " + e.getMessage(), e);
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
            return ConfigJson.MAPPER.treeToValue(tree, SchedulerConfig.class);
        } catch (IOException e) {
            throw new IllegalArgumentException("invalid scheduler config value: " + e.getMessage(), e);
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
