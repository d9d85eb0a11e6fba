package dev.panamadiffusion.io;

import java.util.Locale;

/**
 * What a UNet predicts, as diffusers' scheduler config {@code prediction_type} spells it. A single-file checkpoint does
 * not record it in its tensors: SD 2.x 768 models predict v, SD 2.x base and SD 1.x models the noise (epsilon).
 */
public enum PredictionType {
    EPSILON("epsilon"),
    V_PREDICTION("v_prediction");

    private final String configName;

    PredictionType(String configName) {
        this.configName = configName;
    }

    /** diffusers' {@code prediction_type} value. */
    public String configName() { return configName; }

    /** {@code epsilon} (or {@code eps}) or {@code v_prediction} (or {@code v}), in any case. */
    public static PredictionType parse(String s) {
        return switch (s.strip().toLowerCase(Locale.ROOT)) {
            case "epsilon", "eps" -> EPSILON;
            case "v_prediction", "v" -> V_PREDICTION;
            default -> throw new IllegalArgumentException("unknown prediction type '" + s + "' (use epsilon or v_prediction)");
        };
    }
}
