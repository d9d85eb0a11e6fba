package dev.panamadiffusion.models.clip;

import dev.panamadiffusion.config.ConfigException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.config.ConfigReader;
import dev.panamadiffusion.config.WeightShapes;
import dev.panamadiffusion.tensor.Tensor;

import java.nio.file.Path;
import java.util.Map;

/**
 * transformers' {@code CLIPTextConfig}, as {@code text_encoder/config.json} holds it (unknown keys ignored). Keys
 * missing from the file take transformers' defaults (CLIP ViT-B/32 text tower); the token ids are informational, the
 * model pools at the largest id of each row as transformers 4.30 does.
 */
public record CLIPTextConfig(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int projectionDim,
        int numHiddenLayers,
        int numAttentionHeads,
        int maxPositionEmbeddings,
        String hiddenAct,
        double layerNormEps,
        int padTokenId,
        int bosTokenId,
        int eosTokenId) {

    /** Largest width or vocabulary a config may give before the weights are consulted. */
    public static final int MAX_SIZE = 1 << 20;
    /** Most encoder layers a config may give (CLIP ViT-H and bigG have 24 and 32). */
    public static final int MAX_LAYERS = 256;
    /** Most positions (CLIP has 77). */
    public static final int MAX_POSITIONS = 4096;

    /**
     * Every size must be positive: a {@code 0} is refused, not replaced by a default ({@link #read} supplies
     * transformers' defaults for absent keys).
     */
    public CLIPTextConfig {
        range("vocab_size", vocabSize, MAX_SIZE);
        range("hidden_size", hiddenSize, MAX_SIZE);
        range("intermediate_size", intermediateSize, MAX_SIZE);
        range("projection_dim", projectionDim, MAX_SIZE);
        range("num_hidden_layers", numHiddenLayers, MAX_LAYERS);
        range("num_attention_heads", numAttentionHeads, hiddenSize);
        range("max_position_embeddings", maxPositionEmbeddings, MAX_POSITIONS);
        if (hiddenAct == null) hiddenAct = "quick_gelu";
        if (!(layerNormEps > 0 && layerNormEps <= 1)) {
            throw new ConfigException(null, "layer_norm_eps", layerNormEps + " is out of range (0, 1]");
        }
        if (hiddenSize % numAttentionHeads != 0) {
            throw new ConfigException(null, "num_attention_heads", "hidden_size " + hiddenSize
                    + " is not a multiple of num_attention_heads " + numAttentionHeads);
        }
        if (!hiddenAct.equals("quick_gelu") && !hiddenAct.equals("gelu")) {
            throw new ConfigException(null, "hidden_act", "\"" + hiddenAct + "\" (supported: quick_gelu, gelu)");
        }
    }

    private static void range(String key, int v, int max) {
        if (v < 1 || v > max) throw new ConfigException(null, key, v + " is out of range [1, " + max + "]");
    }

    /**
     * Reads {@code config.json}, transformers' defaults (CLIP ViT-B/32's text tower) for absent keys; problems are a
     * {@link ConfigException} naming the file and the key. The sizes are checked against the weights by
     * {@link #checkWeights}.
     */
    public static CLIPTextConfig read(Path configFile) {
        return read(configFile, ConfigReader.of(configFile).root());
    }

    /** As {@link #read(Path)}, for the parsed (or derived) {@code root}; {@code configFile} names it in messages. */
    public static CLIPTextConfig read(Path configFile, JsonNode root) {
        ConfigReader j = new ConfigReader(configFile, root);
        try {
            int hidden = j.integer("hidden_size", 512, 1, MAX_SIZE);
            return new CLIPTextConfig(
                    j.integer("vocab_size", 49408, 1, MAX_SIZE),
                    hidden,
                    j.integer("intermediate_size", 2048, 1, MAX_SIZE),
                    j.integer("projection_dim", 512, 1, MAX_SIZE),
                    j.integer("num_hidden_layers", 12, 1, MAX_LAYERS),
                    j.integer("num_attention_heads", 8, 1, hidden),
                    j.integer("max_position_embeddings", 77, 1, MAX_POSITIONS),
                    j.string("hidden_act", "quick_gelu"),
                    j.number("layer_norm_eps", 1e-5, Double.MIN_VALUE, 1),
                    tokenId(j, "pad_token_id", 1),
                    tokenId(j, "bos_token_id", 49406),
                    tokenId(j, "eos_token_id", 49407));
        } catch (ConfigException e) {
            throw e.file() == null ? e.in(configFile) : e;
        }
    }

    /** Token ids are informational (the tokenizer's files decide); transformers writes null or ints, some write -1. */
    private static int tokenId(ConfigReader j, String key, int dflt) {
        Integer v = j.nullableInteger(key, dflt, -1, Integer.MAX_VALUE);
        return v == null ? dflt : v;
    }

    /** The text encoder of Stable Diffusion 1.x (CLIP ViT-L/14). */
    public static CLIPTextConfig sd15() {
        return new CLIPTextConfig(49408, 768, 3072, 768, 12, 12, 77, "quick_gelu", 1e-5, 1, 0, 2);
    }

    /**
     * Checks this config, read from {@code configFile}, against the checkpoint's tensors before any module is built:
     * vocabulary, widths, positions and the layer count must be what the weights hold.
     */
    public void checkWeights(Path configFile, Map<String, Tensor> weights) {
        WeightShapes w = new WeightShapes(configFile, weights);
        String emb = "text_model.embeddings.";
        w.expect("vocab_size", vocabSize, emb + "token_embedding.weight", 0);
        w.expect("hidden_size", hiddenSize, emb + "token_embedding.weight", 1);
        w.expect("max_position_embeddings", maxPositionEmbeddings, emb + "position_embedding.weight", 0);
        w.expectCount("num_hidden_layers", numHiddenLayers, "text_model.encoder.layers.");
        w.expect("intermediate_size", intermediateSize, "text_model.encoder.layers.0.mlp.fc1.weight", 0);
    }

    public int headDim() { return hiddenSize / numAttentionHeads; }
}
