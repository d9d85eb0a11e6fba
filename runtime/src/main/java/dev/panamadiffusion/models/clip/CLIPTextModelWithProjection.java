package dev.panamadiffusion.models.clip;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.config.WeightShapes;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.nn.Linear;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Param;
import dev.panamadiffusion.weights.Weights;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;

/**
 * transformers' {@code CLIPTextModelWithProjection}, SDXL's second text encoder (OpenCLIP bigG): a
 * {@link CLIPTextTransformer} under {@code text_model} plus {@code text_projection}, a bias-free linear map of the pooled
 * output to {@code projection_dim}: the {@code text_embeds} SDXL's UNet gets as its pooled prompt embedding.
 */
public final class CLIPTextModelWithProjection {
    private final CLIPTextConfig config;
    private final CLIPTextTransformer textModel;
    private final Linear textProjection;
    private final Map<String, Param> params;

    /** Binds the model to {@code w}; {@code w.finish()} reports missing or left-over keys (as {@link #load} calls it). */
    public CLIPTextModelWithProjection(CLIPTextConfig config, Weights w) {
        this.config = config;
        this.params = w.params();
        this.textModel = new CLIPTextTransformer(w.pp("text_model"), config);
        this.textProjection = new Linear(w.pp("text_projection"), config.hiddenSize(), config.projectionDim(), false);
    }

    /** Loads a {@code text_encoder_2/} folder: {@code config.json} and its safetensors weights. */
    public static CLIPTextModelWithProjection load(Path componentDir, Backend backend, Arena arena) {
        Path configFile = componentDir.resolve("config.json");
        CLIPTextConfig config = CLIPTextConfig.read(configFile);
        return Weights.load(componentDir, backend, arena, "CLIPTextModelWithProjection",
                weights -> checkWeights(config, configFile, weights), w -> new CLIPTextModelWithProjection(config, w));
    }

    /** Loads component {@code component} of {@code model} (a diffusers folder, or a single file under diffusers names). */
    public static CLIPTextModelWithProjection load(ModelFolder model, String component, Backend backend, Arena arena) {
        Path configFile = model.configFile(component);
        CLIPTextConfig config = CLIPTextConfig.read(configFile, model.config(component));
        return Weights.load(model, component, backend, arena, "CLIPTextModelWithProjection",
                weights -> checkWeights(config, configFile, weights), w -> new CLIPTextModelWithProjection(config, w));
    }

    private static void checkWeights(CLIPTextConfig config, Path configFile, Map<String, Tensor> weights) {
        config.checkWeights(configFile, weights);
        new WeightShapes(configFile, weights).expect("projection_dim", config.projectionDim(), "text_projection.weight", 0);
    }

    public CLIPTextConfig config() { return config; }

    /** The linear weights by transformers key, each swappable after loading. */
    public Map<String, Param> params() { return params; }

    /** As {@link CLIPTextModel#forward(Tensor, int, boolean)}. */
    public CLIPTextOutput forward(Tensor ids, int clipSkip, boolean finalLayerNorm) {
        return textModel.forward(ids, clipSkip, finalLayerNorm);
    }

    /** {@code text_projection(pooled_output)}: [B, hidden] → [B, projection_dim], on the backend. */
    public Tensor textEmbeds(CLIPTextOutput out) {
        return textProjection.forward(out.pooledOutput());                      // [B, P]
    }
}
