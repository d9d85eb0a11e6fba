package dev.panamadiffusion.models.clip;

import dev.panamadiffusion.config.ConfigJson;

import java.nio.file.Path;

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

    public CLIPTextConfig {
        if (vocabSize == 0) vocabSize = 49408;
        if (hiddenSize == 0) hiddenSize = 512;
        if (intermediateSize == 0) intermediateSize = 2048;
        if (projectionDim == 0) projectionDim = 512;
        if (numHiddenLayers == 0) numHiddenLayers = 12;
        if (numAttentionHeads == 0) numAttentionHeads = 8;
        if (maxPositionEmbeddings == 0) maxPositionEmbeddings = 77;
        if (hiddenAct == null) hiddenAct = "quick_gelu";
        if (layerNormEps == 0) layerNormEps = 1e-5;
        if (vocabSize < 0 || hiddenSize < 0 || intermediateSize < 0 || numHiddenLayers < 0 || numAttentionHeads < 0
                || maxPositionEmbeddings < 0) {
            throw new IllegalArgumentException("CLIPTextConfig: negative size in " + sizes(vocabSize, hiddenSize,
                    intermediateSize, numHiddenLayers, numAttentionHeads, maxPositionEmbeddings));
        }
        if (hiddenSize % numAttentionHeads != 0) {
            throw new IllegalArgumentException("CLIPTextConfig: hidden_size " + hiddenSize
                    + " is not a multiple of num_attention_heads " + numAttentionHeads);
        }
        if (!hiddenAct.equals("quick_gelu") && !hiddenAct.equals("gelu")) {
            throw new IllegalArgumentException("CLIPTextConfig: hidden_act \"" + hiddenAct + "\" (supported: quick_gelu, gelu)");
        }
    }

    private static String sizes(int v, int h, int i, int l, int a, int p) {
        return "vocab_size " + v + ", hidden_size " + h + ", intermediate_size " + i + ", num_hidden_layers " + l
                + ", num_attention_heads " + a + ", max_position_embeddings " + p;
    }

    /** Reads {@code config.json}; problems are an {@link IllegalArgumentException} naming the file. */
    public static CLIPTextConfig read(Path configFile) {
        return ConfigJson.read(configFile, CLIPTextConfig.class);
    }

    /** The text encoder of Stable Diffusion 1.x (CLIP ViT-L/14). */
    public static CLIPTextConfig sd15() {
        return new CLIPTextConfig(49408, 768, 3072, 768, 12, 12, 77, "quick_gelu", 1e-5, 1, 0, 2);
    }

    public int headDim() { return hiddenSize / numAttentionHeads; }
}
