package dev.panamadiffusion.schedulers;

/** What the denoising model predicts (diffusers' {@code prediction_type}). */
public enum PredictionType {
    /** The noise (Stable Diffusion 1.x, 2.x base). */
    EPSILON("epsilon"),
    /** The velocity v = alpha_t * noise - sigma_t * x0 (Stable Diffusion 2.x 768-v models). */
    V_PREDICTION("v_prediction"),
    /** The denoised sample x0. */
    SAMPLE("sample");

    private final String configName;

    PredictionType(String configName) {
        this.configName = configName;
    }

    /** The value in {@code scheduler_config.json}. */
    public String configName() { return configName; }

    public static PredictionType of(String configName) {
        for (PredictionType p : values()) {
            if (p.configName.equals(configName)) return p;
        }
        throw new IllegalArgumentException("prediction_type '" + configName + "' is not supported (epsilon, v_prediction, sample)");
    }
}
