package dev.panamadiffusion.models.clip;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Param;
import dev.panamadiffusion.weights.Weights;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;

/**
 * transformers' {@code CLIPTextModel}, the Stable Diffusion text encoder: a {@link CLIPTextTransformer} under the
 * key prefix {@code text_model}.
 */
public final class CLIPTextModel {
    private final CLIPTextConfig config;
    private final CLIPTextTransformer textModel;
    private final Map<String, Param> params; // swappable weights by transformers key (LoRA)

    /**
     * Binds the model to {@code w}. Missing or mis-shaped keys are reported by {@code w.finish()}, which the caller
     * must call before the first forward (as {@link #load} does).
     */
    public CLIPTextModel(CLIPTextConfig config, Weights w) {
        this.config = config;
        this.params = w.params();
        this.textModel = new CLIPTextTransformer(w.pp("text_model"), config);
    }

    /**
     * The linear weights by transformers key ({@code text_model.encoder.layers.0.self_attn.q_proj.weight}), each
     * swappable after loading: what a LoRA patches ({@link dev.panamadiffusion.lora.LoraPatcher}).
     */
    public Map<String, Param> params() { return params; }

    /**
     * Loads a diffusers/transformers {@code text_encoder/} folder: {@code config.json} and its safetensors weights,
     * mapped into {@code arena} and uploaded to {@code backend}. Every weight must bind, and no key may be left over.
     */
    public static CLIPTextModel load(Path componentDir, Backend backend, Arena arena) {
        Path configFile = componentDir.resolve("config.json");
        CLIPTextConfig config = CLIPTextConfig.read(configFile);
        return Weights.load(componentDir, backend, arena, "CLIPTextModel", weights -> config.checkWeights(configFile, weights),
                w -> new CLIPTextModel(config, w));
    }

    /**
     * Loads component {@code component} of {@code model} (a diffusers folder, or a single-file checkpoint presented
     * under diffusers names), as {@link #load(Path, Backend, Arena)} does a folder.
     */
    public static CLIPTextModel load(ModelFolder model, String component, Backend backend, Arena arena) {
        Path configFile = model.configFile(component);
        CLIPTextConfig config = CLIPTextConfig.read(configFile, model.config(component));
        return Weights.load(model, component, backend, arena, "CLIPTextModel", weights -> config.checkWeights(configFile, weights),
                w -> new CLIPTextModel(config, w));
    }

    public CLIPTextConfig config() { return config; }

    /** {@link #forward(Tensor, int)} without clip skip. */
    public CLIPTextOutput forward(Tensor ids) { return forward(ids, 0); }

    /**
     * @param ids      host integer tensor [B, L] (L ≤ max_position_embeddings); an id outside [0, vocab_size) is an
     *                 {@link IllegalArgumentException}
     * @param clipSkip 0 for the last layer; k ≥ 1 conditions on hidden_states[-(k+1)] through final_layer_norm
     */
    public CLIPTextOutput forward(Tensor ids, int clipSkip) { return textModel.forward(ids, clipSkip); }

    /**
     * {@link #forward(Tensor, int)} with the hidden state hidden_states[-(clipSkip + 1)] taken as the encoder layer
     * left it when {@code finalLayerNorm} is false (SDXL's penultimate layer: {@code clipSkip} 1).
     */
    public CLIPTextOutput forward(Tensor ids, int clipSkip, boolean finalLayerNorm) {
        return textModel.forward(ids, clipSkip, finalLayerNorm);
    }
}
