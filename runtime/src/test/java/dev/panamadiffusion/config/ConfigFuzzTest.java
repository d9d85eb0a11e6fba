package dev.panamadiffusion.config;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.code_intelligence.jazzer.mutation.annotation.NotNull;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.io.ModelIndex;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.clip.CLIPTextConfig;
import dev.panamadiffusion.models.unet.UNet2DConditionConfig;
import dev.panamadiffusion.models.vae.AutoencoderKLConfig;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Coverage-guided fuzzing of the config readers (Jazzer). A reader either returns a config or throws an
 * IllegalArgumentException whose message starts with the file; a config that also passes
 * {@code checkWeights} against the tiny model's weights has exactly the tiny model's sizes (the weights are the
 * final word). A plain build runs the committed inputs under {@code ConfigFuzzTestInputs/}; {@code JAZZER_FUZZ=1}
 * fuzzes.
 */
class ConfigFuzzTest {
    private static final Path DIR;
    private static final Path TINY;
    private static final Map<String, Tensor> UNET;
    private static final Map<String, Tensor> VAE;
    private static final Map<String, Tensor> CLIP;

    static {
        try {
            DIR = Files.createTempDirectory("pd-config-fuzz");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        TINY = Path.of(System.getProperty("pd.reference", "../../shared/reference"), "tiny");
        UNET = SafeTensors.readAll(TINY.resolve("unet/diffusion_pytorch_model.safetensors"));
        VAE = SafeTensors.readAll(TINY.resolve("vae/diffusion_pytorch_model.safetensors"));
        CLIP = SafeTensors.readAll(TINY.resolve("text_encoder/model.safetensors"));
    }

    /** Arbitrary text as each kind of config file. */
    @DictionaryEntries({"\"layers_per_block\"", "\"block_out_channels\"", "\"down_block_types\"", "\"norm_num_groups\"",
            "\"sample_size\"", "\"num_train_timesteps\"", "\"trained_betas\"", "\"vocab_size\"", "\"num_hidden_layers\"",
            "\"num_attention_heads\"", "\"hidden_size\"", "\"latent_channels\"", "\"attention_head_dim\"", "\"_class_name\"",
            "\"CrossAttnDownBlock2D\"", "\"steps_offset\"", "\"solver_order\"", "2147483648", "-Infinity", "NaN", "1e30", "null"})
    @FuzzTest(maxDuration = "2m")
    void anyText(@NotNull String json) throws IOException {
        Path file = DIR.resolve("config.json");
        Files.writeString(file, json);
        readAll(file);
    }

    /** One key of a tiny component's config set to a fuzzed value: the reader, then the weights, must decide. */
    @FuzzTest(maxDuration = "2m")
    void oneKey(FuzzedDataProvider data) throws IOException {
        String component = data.pickValue(List.of("unet", "vae", "text_encoder", "scheduler_ddim"));
        String name = component.startsWith("scheduler") ? "scheduler_config.json" : "config.json";
        ObjectNode root = (ObjectNode) ConfigJson.tree(TINY.resolve(component).resolve(name));
        List<String> keys = new ArrayList<>();
        root.fieldNames().forEachRemaining(keys::add);
        int edits = data.consumeInt(1, 3);
        for (int i = 0; i < edits; i++) root.set(data.pickValue(keys), value(data, 0));
        Path file = DIR.resolve(name);
        Files.writeString(file, root.toString());
        try {
            switch (component) {
                case "unet" -> {
                    UNet2DConditionConfig c = UNet2DConditionConfig.read(file);
                    c.checkWeights(file, UNET);
                    assertArrayEquals(new int[] {32, 64}, c.blockOutChannels());
                    assertArrayEquals(new int[] {1, 1}, c.layersPerBlock());
                    assertArrayEquals(new int[] {1, 1}, c.transformerLayersPerBlock());
                }
                case "vae" -> {
                    AutoencoderKLConfig c = AutoencoderKLConfig.read(file);
                    c.checkWeights(file, VAE);
                    assertArrayEquals(new int[] {32, 64}, c.blockOutChannels());
                    assertEquals(1, c.layersPerBlock());
                    assertEquals(4, c.latentChannels());
                }
                case "text_encoder" -> {
                    CLIPTextConfig c = CLIPTextConfig.read(file);
                    c.checkWeights(file, CLIP);
                    assertEquals(List.of(1000, 32, 37, 2, 77), List.of(c.vocabSize(), c.hiddenSize(), c.intermediateSize(),
                            c.numHiddenLayers(), c.maxPositionEmbeddings()));
                }
                default -> {
                    SchedulerConfig c = SchedulerConfig.read(file);
                    if (c.numTrainTimesteps() != null) {
                        assertTrue(c.numTrainTimesteps() >= 1 && c.numTrainTimesteps() <= SchedulerConfig.MAX_TRAIN_TIMESTEPS);
                    }
                }
            }
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
            assertTrue(e.getMessage().lines().count() == 1, "one line: " + e.getMessage());
        }
    }

    private static void readAll(Path file) {
        List<Runnable> readers = List.of(() -> UNet2DConditionConfig.read(file), () -> AutoencoderKLConfig.read(file),
                () -> CLIPTextConfig.read(file), () -> SchedulerConfig.read(file), () -> ModelIndex.read(file));
        for (Runnable r : readers) {
            try {
                r.run();
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage() != null && e.getMessage().startsWith(file.toString()), e.getMessage());
                assertTrue(e.getMessage().lines().count() == 1, "one line: " + e.getMessage());
            }
        }
    }

    /** A fuzzed JSON value: numbers at the edges, strings, booleans, null, short lists. */
    private static JsonNode value(FuzzedDataProvider data, int depth) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        switch (data.consumeInt(0, depth < 2 ? 6 : 5)) {
            case 0: return f.numberNode(data.consumeInt());
            case 1: return f.numberNode(data.consumeLong());
            case 2: return f.numberNode(data.consumeDouble());
            case 3: return f.textNode(data.consumeString(20));
            case 4: return f.booleanNode(data.consumeBoolean());
            case 5: return f.nullNode();
            default: {
                ArrayNode a = f.arrayNode();
                int n = data.consumeInt(0, 6);
                for (int i = 0; i < n; i++) a.add(value(data, depth + 1));
                return a;
            }
        }
    }
}
