package dev.panamadiffusion.models.clip;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.WeightBindingException;
import dev.panamadiffusion.weights.Weights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class CLIPTextModelTest {
    static final double TOL = 1e-4;
    static final CpuBackend backend = new CpuBackend(2);
    static Map<String, Tensor> io;
    static CLIPTextModel model;

    /** The naive reference ops and a fresh CPU backend (JUnit closes parameters after each invocation). */
    static Stream<Backend> backends() { return Stream.of(new NaiveBackend(), new CpuBackend(2)); }

    static CLIPTextModel load(Backend b) { return CLIPTextModel.load(Reference.tiny().resolve("text_encoder"), b, Arena.ofAuto()); }

    @BeforeAll
    static void load() {
        io = Reference.read("text_encoder_io.safetensors");
        model = load(backend);
    }

    @AfterAll
    static void close() { backend.close(); }

    @Test
    void configMirrorsConfigJson() {
        CLIPTextConfig c = model.config();
        assertEquals(1000, c.vocabSize());
        assertEquals(32, c.hiddenSize());
        assertEquals(37, c.intermediateSize());
        assertEquals(2, c.numHiddenLayers());
        assertEquals(4, c.numAttentionHeads());
        assertEquals(77, c.maxPositionEmbeddings());
        assertEquals("quick_gelu", c.hiddenAct());
        assertEquals(1e-5, c.layerNormEps());
        assertEquals(512, c.projectionDim());
        assertEquals(999, c.eosTokenId());
    }

    @ParameterizedTest
    @MethodSource("backends")
    void lastHiddenStateAndPooledMatchTransformers(Backend backend) {
        CLIPTextOutput out = load(backend).forward(io.get("input_ids"));
        String on = " on " + backend.name();
        Reference.assertClose("clip last_hidden_state" + on, io.get("last_hidden_state"), backend.download(out.lastHiddenState()), TOL);
        Reference.assertClose("clip pooler_output" + on, io.get("pooler_output"), backend.download(out.pooledOutput()), TOL);
        assertSame(out.lastHiddenState(), out.hiddenState(), "clip skip 0 conditions on the last hidden state");
    }

    @Test
    void pooledRowIsTheFirstEndOfTextPosition() {
        Tensor ids = io.get("input_ids");
        CLIPTextOutput out = model.forward(ids);
        Tensor last = backend.download(out.lastHiddenState());
        Tensor pooled = backend.download(out.pooledOutput());
        for (int b = 0; b < 2; b++) {
            int eos = -1;
            for (int i = 0; i < 77 && eos < 0; i++) if (ids.getLong(b * 77L + i) == 999) eos = i;
            assertTrue(eos > 0);
            assertArrayEquals(last.select(0, b).select(0, eos).toFloatArray(), pooled.select(0, b).toFloatArray());
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void clipSkipOneIsThePenultimateLayerThroughFinalLayerNorm(Backend backend) {
        CLIPTextModel model = load(backend);
        // A one-layer model over the same weights computes hidden_states[-2] → final_layer_norm as its last state.
        Map<String, Tensor> weights = new LinkedHashMap<>(Reference.read("text_encoder_weights.safetensors"));
        weights.keySet().removeIf(k -> k.startsWith("text_model.encoder.layers.1."));
        CLIPTextConfig c = model.config();
        CLIPTextConfig oneLayer = new CLIPTextConfig(c.vocabSize(), c.hiddenSize(), c.intermediateSize(), c.projectionDim(),
                1, c.numAttentionHeads(), c.maxPositionEmbeddings(), c.hiddenAct(), c.layerNormEps(), c.padTokenId(),
                c.bosTokenId(), c.eosTokenId());
        Weights w = Weights.of(weights, backend, "one layer");
        CLIPTextModel truncated = new CLIPTextModel(oneLayer, w);
        w.finish();

        Tensor ids = io.get("input_ids");
        CLIPTextOutput skip1 = model.forward(ids, 1);
        Reference.assertClose("clip skip 1 vs 1-layer model on " + backend.name(), backend.download(truncated.forward(ids).lastHiddenState()),
                backend.download(skip1.hiddenState()), 1e-6);
        // the other outputs stay those of the full model
        Reference.assertClose("clip skip 1 last_hidden_state", io.get("last_hidden_state"), backend.download(skip1.lastHiddenState()), TOL);
        assertThrows(AssertionError.class, () -> Reference.assertClose("skip 1 differs from last", io.get("last_hidden_state"),
                backend.download(skip1.hiddenState()), TOL));
    }

    @ParameterizedTest
    @MethodSource("backends")
    void clipSkipAllLayersIsTheNormalisedEmbedding(Backend backend) {
        CLIPTextModel model = load(backend);
        Tensor ids = io.get("input_ids");
        Map<String, Tensor> w = Reference.read("text_encoder_weights.safetensors");
        float[] tok = w.get("text_model.embeddings.token_embedding.weight").toFloatArray();
        float[] pos = w.get("text_model.embeddings.position_embedding.weight").toFloatArray();
        float[] g = w.get("text_model.final_layer_norm.weight").toFloatArray();
        float[] bias = w.get("text_model.final_layer_norm.bias").toFloatArray();
        int d = 32;
        float[] expected = new float[2 * 77 * d];
        for (int r = 0; r < 2 * 77; r++) {
            double[] x = new double[d];
            double mean = 0, var = 0;
            for (int i = 0; i < d; i++) {
                x[i] = tok[(int) ids.getLong(r) * d + i] + pos[(r % 77) * d + i];
                mean += x[i] / d;
            }
            for (int i = 0; i < d; i++) var += (x[i] - mean) * (x[i] - mean) / d;
            for (int i = 0; i < d; i++) expected[r * d + i] = (float) ((x[i] - mean) / Math.sqrt(var + 1e-5) * g[i] + bias[i]);
        }
        Reference.assertClose("clip skip 2 (embeddings) on " + backend.name(), Tensor.fromFloats(expected, 2, 77, d),
                backend.download(model.forward(ids, 2).hiddenState()), 1e-5);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.forward(ids, 3));
        assertTrue(e.getMessage().contains("clip skip 3"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> model.forward(ids, -1));
    }

    @Test
    void idOutsideTheVocabularyIsAClearError() {
        long[] ids = io.get("input_ids").toLongArray();
        ids[77 + 5] = 1000;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> model.forward(Tensor.fromLongs(ids, 2, 77)));
        assertTrue(e.getMessage().contains("1000") && e.getMessage().contains("[1, 5]")
                && e.getMessage().contains("vocabulary [0, 1000)"), e.getMessage());
        ids[77 + 5] = -1;
        assertThrows(IllegalArgumentException.class, () -> model.forward(Tensor.fromLongs(ids, 2, 77)));
        assertThrows(IllegalArgumentException.class, () -> model.forward(Tensor.fromLongs(new long[78], 1, 78)),
                "longer than max_position_embeddings");
    }

    @Test
    void shorterSequencesUseTheFirstPositions() {
        // causal attention: the first 5 positions do not see later tokens, so a 5-token prefix gives the same states
        Tensor ids = io.get("input_ids");
        long[] prefix = new long[10];
        for (int b = 0; b < 2; b++) for (int i = 0; i < 5; i++) prefix[b * 5 + i] = ids.getLong(b * 77L + i);
        Tensor short5 = backend.download(model.forward(Tensor.fromLongs(prefix, 2, 5)).lastHiddenState());
        Tensor full = io.get("last_hidden_state").slice(1, 0, 5).contiguous();
        Reference.assertClose("clip 5-token prefix", full, short5, TOL);
    }

    @Test
    void missingWeightsAreListed(@TempDir Path dir) throws IOException {
        Map<String, Tensor> weights = new LinkedHashMap<>(Reference.read("text_encoder_weights.safetensors"));
        weights.remove("text_model.encoder.layers.1.mlp.fc2.weight");
        weights.remove("text_model.final_layer_norm.bias");
        weights.put("text_model.extra.weight", Tensor.zeros(3));
        Files.copy(Reference.tiny().resolve("text_encoder/config.json"), dir.resolve("config.json"));
        SafeTensors.write(dir.resolve("model.safetensors"), weights, Map.of());
        WeightBindingException e = assertThrows(WeightBindingException.class,
                () -> CLIPTextModel.load(dir, backend, Arena.ofAuto()));
        assertEquals(2, e.missing().size(), e.getMessage());
        assertTrue(e.getMessage().contains("text_model.encoder.layers.1.mlp.fc2.weight [32, 37]"), e.getMessage());
        assertTrue(e.getMessage().contains("text_model.final_layer_norm.bias [32]"), e.getMessage());
        assertEquals(java.util.List.of("text_model.extra.weight"), e.unexpected());
    }

    @Test
    void configReadsDefaultsAndRejectsUnknownActivation(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("a.json"), "{\"hidden_size\": 64, \"num_attention_heads\": 4, \"foo\": 1}");
        CLIPTextConfig c = CLIPTextConfig.read(dir.resolve("a.json"));
        assertEquals(64, c.hiddenSize());
        assertEquals(49408, c.vocabSize());
        assertEquals("quick_gelu", c.hiddenAct());
        Files.writeString(dir.resolve("b.json"), "{\"hidden_act\": \"relu\"}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CLIPTextConfig.read(dir.resolve("b.json")));
        assertTrue(e.getMessage().contains("b.json") && e.getMessage().contains("relu"), e.getMessage());
    }
}
