package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SDXL's added conditioning ({@code addition_embed_type} "text_time") at the model level: reference/sdxl's base UNet
 * (6 time ids) and reference/sdxl-refiner's (5) against diffusers' {@code unet(sample, t, ehs, added_cond_kwargs)}
 * (their unet_io.safetensors), the {@code add_embeds} row layout against an independent sinusoidal embedding, and the
 * refusals when the conditioning is missing, extra or misshapen.
 */
class UNet2DConditionModelAddedCondTest {
    private static CpuBackend backend;
    private static Arena arena;

    @BeforeAll
    static void start() {
        backend = new CpuBackend(2);
        arena = Arena.ofShared();
    }

    @AfterAll
    static void stop() {
        backend.close();
        arena.close();
    }

    private static Path set(String name) {
        return Path.of(System.getProperty("pd.home", "..")).resolve("reference").resolve(name);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sdxl", "sdxl-refiner"})
    void matchesDiffusersWithTextEmbedsAndTimeIds(String name) {
        Map<String, Tensor> io = SafeTensors.readAll(set(name).resolve("unet_io.safetensors"));
        UNet2DConditionModel unet = UNet2DConditionModel.load(set(name).resolve("unet"), backend, arena);
        Tensor add = unet.addEmbeds(io.get("text_embeds"), io.get("time_ids"));              // [2, width]
        double[] ts = UNet2DConditionModelTest.timesteps(io.get("timesteps"));
        Tensor sample = backend.upload(io.get("sample"));
        Tensor context = backend.upload(io.get("encoder_hidden_states"));
        Tensor out = backend.download(unet.forward(sample, ts, null, add, context, () -> {}));
        Reference.assertClose(name + " UNet with added conditioning", io.get("out"), out, UNet2DConditionModelTest.TOLERANCE);
        Tensor scalar = backend.download(unet.forward(sample, new double[] {500, 500}, null, add, context, () -> {}));
        Reference.assertClose(name + " UNet at t = 500", io.get("out_t500_scalar"), scalar, UNet2DConditionModelTest.TOLERANCE);
        // the same from the time projection on (what a backend records once and replays)
        Tensor projected = backend.download(unet.forwardProjected(sample, unet.conditionedTimeProjection(ts, null),
                unet.addedEmbedding(add), context));
        Reference.assertClose(name + " UNet from its time projection", io.get("out"), projected, UNet2DConditionModelTest.TOLERANCE);
    }

    /** Each row: the text embeds, then per time id diffusers' Timesteps(dim, flip_sin_to_cos=True, shift 0): cos, sin. */
    @ParameterizedTest
    @ValueSource(strings = {"sdxl", "sdxl-refiner"})
    void addEmbedsRowsAreTextThenEachTimeIdsSinusoid(String name) {
        UNet2DConditionModel unet = UNet2DConditionModel.load(set(name).resolve("unet"), backend, arena);
        UNet2DConditionConfig c = unet.config();
        int ids = name.equals("sdxl") ? UNet2DConditionConfig.TIME_IDS : UNet2DConditionConfig.AESTHETIC_TIME_IDS;
        int text = c.textEmbedsDim(ids), dim = c.additionTimeEmbedDim(), width = c.projectionClassEmbeddingsInputDim();
        assertEquals(width, text + ids * dim);
        float[] textEmbeds = new float[3 * text];
        for (int i = 0; i < textEmbeds.length; i++) textEmbeds[i] = (float) Math.sin(i * 0.37);
        float[] timeIds = new float[3 * ids];
        for (int i = 0; i < timeIds.length; i++) timeIds[i] = 7 * i + (i % 3 == 0 ? 1024 : 0.5f);
        float[] got = unet.addEmbeds(Tensor.fromFloats(textEmbeds, 3, text), Tensor.fromFloats(timeIds, 3, ids)).toFloatArray();
        assertEquals(3 * width, got.length);
        int half = dim / 2;
        for (int b = 0; b < 3; b++) {
            for (int j = 0; j < text; j++) assertEquals(textEmbeds[b * text + j], got[b * width + j], 0f);
            for (int n = 0; n < ids; n++) {
                double t = timeIds[b * ids + n];
                for (int i = 0; i < half; i++) {
                    double arg = t * Math.exp(-Math.log(10000) * i / half);
                    int at = b * width + text + n * dim;
                    assertEquals(Math.cos(arg), got[at + i], 2e-4, "cos " + b + "," + n + "," + i);
                    assertEquals(Math.sin(arg), got[at + half + i], 2e-4, "sin " + b + "," + n + "," + i);
                }
            }
        }
    }

    /**
     * The pooled text width is whatever projection_class_embeddings_input_dim leaves beside the time ids, one column
     * included: reference/sdxl's UNet with a 49-wide add_embedding input (1 + 6 × 8).
     */
    @Test
    void aOneWideTextEmbeddingIsATextEmbeddingToo() throws Exception {
        Path dir = set("sdxl").resolve("unet");
        var json = (com.fasterxml.jackson.databind.node.ObjectNode) dev.panamadiffusion.config.ConfigJson.tree(dir.resolve("config.json"));
        json.put("projection_class_embeddings_input_dim", 1 + UNet2DConditionConfig.TIME_IDS * 8);
        UNet2DConditionConfig c = UNet2DConditionConfig.fromJson(json);
        assertEquals(8, c.additionTimeEmbedDim());
        assertEquals(1, c.textEmbedsDim());
        Map<String, Tensor> weights = new java.util.HashMap<>(SafeTensors.readAll(dir.resolve("diffusion_pytorch_model.safetensors")));
        weights.put("add_embedding.linear_1.weight", Tensor.zeros(c.timeEmbedDim(), 49));
        UNet2DConditionModel unet = new UNet2DConditionModel(c, dev.panamadiffusion.weights.Weights.of(weights, backend, "one-wide text"));
        float[] text = {0.25f, -3f};
        float[] ids = {1024, 1024, 0, 0, 1024, 1024, 512, 768, 16, 32, 512, 768};
        float[] got = unet.addEmbeds(Tensor.fromFloats(text, 2, 1), Tensor.fromFloats(ids, 2, 6)).toFloatArray();
        assertEquals(2 * 49, got.length);
        for (int b = 0; b < 2; b++) {
            assertEquals(text[b], got[b * 49], 0f, "row " + b + " starts with its text embedding");
            for (int n = 0; n < 6; n++) {
                assertEquals(Math.cos(ids[b * 6 + n]), got[b * 49 + 1 + n * 8], 2e-4, "cos of time id " + n + ", frequency 1");
            }
        }
    }

    @Test
    void missingExtraOrMisshapenConditioningIsRefused() {
        UNet2DConditionModel xl = UNet2DConditionModel.load(set("sdxl").resolve("unet"), backend, arena);
        int text = xl.config().textEmbedsDim(UNet2DConditionConfig.TIME_IDS);
        int width = xl.config().projectionClassEmbeddingsInputDim();
        Tensor te = Tensor.fromFloats(new float[2 * text], 2, text);
        assertThrows(IllegalArgumentException.class, () -> xl.addEmbeds(te, Tensor.fromFloats(new float[2 * 4], 2, 4)), "4 ids");
        assertThrows(IllegalArgumentException.class, () -> xl.addEmbeds(te, Tensor.fromFloats(new float[6], 1, 6)), "rows differ");
        assertThrows(IllegalArgumentException.class, () -> xl.addEmbeds(Tensor.fromFloats(new float[2 * text + 2], 2, text + 1),
                Tensor.fromFloats(new float[12], 2, 6)), "text width");
        assertThrows(IllegalArgumentException.class, () -> xl.addEmbeds(Tensor.fromFloats(new float[text], text),
                Tensor.fromFloats(new float[6], 1, 6)), "rank 1 text");
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> xl.addedEmbedding(null));
        assertTrue(none.getMessage().contains("text_time"), none.getMessage());
        assertThrows(IllegalArgumentException.class, () -> xl.addedEmbedding(Tensor.fromFloats(new float[width + 1], 1, width + 1)));
        assertEquals(2, xl.addedEmbedding(Tensor.fromFloats(new float[2 * width], 2, width)).dim(0));

        UNet2DConditionModel sd = UNet2DConditionModel.load(Reference.tiny().resolve("unet"), backend, arena);
        assertThrows(IllegalStateException.class, () -> sd.addEmbeds(te, Tensor.fromFloats(new float[12], 2, 6)));
        assertEquals(null, sd.addedEmbedding(null));
        assertThrows(IllegalArgumentException.class, () -> sd.addedEmbedding(Tensor.fromFloats(new float[width], 1, width)));
    }
}
