package dev.panamadiffusion.config;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.cli.Main;
import dev.panamadiffusion.io.ModelIndex;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.io.SafeTensorsException;
import dev.panamadiffusion.models.TinyFolderFixture;
import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.pipeline.StableDiffusionPipeline;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.tokenizer.CLIPTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 13's broken configs, each written into a copy of the tiny reference model: every one is refused quickly (no
 * large allocation: each runs under a 10 s limit, where the unchecked runtime hung or grew to gigabytes) with a
 * {@link ConfigException} naming the file and the key; sizes that disagree with the weights name both values.
 */
class ConfigValidationTest extends TinyFolderFixture {
    private static final Duration FAST = Duration.ofSeconds(10);


    /** Sets {@code key} of the JSON object in {@code file} to {@code value} (a Java value written as JSON). */
    static void edit(Path file, String key, Object value) throws IOException {
        ObjectNode root = (ObjectNode) ConfigJson.MAPPER.readTree(file.toFile());
        root.set(key, ConfigJson.MAPPER.valueToTree(value));
        Files.writeString(file, root.toString());
    }

    /** Runs {@code load} under the time limit and returns its ConfigException, checking file and key. */
    private static ConfigException refused(Path file, String field, Executable load) {
        ConfigException e = assertTimeoutPreemptively(FAST, () -> assertThrows(ConfigException.class, load));
        assertEquals(file, e.file(), e.getMessage());
        assertEquals(field, e.field(), e.getMessage());
        assertTrue(e.getMessage().startsWith(file + ": " + field + ": "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e;
    }

    private static void loadUNet(Path m) {
        UNet2DConditionModel.load(m.resolve("unet"), backend, Arena.ofAuto());
    }

    private static void loadTextEncoder(Path m) {
        CLIPTextModel.load(m.resolve("text_encoder"), backend, Arena.ofAuto());
    }

    private static void loadVae(Path m) {
        AutoencoderKL.load(m.resolve("vae"), backend, Arena.ofAuto());
    }

    // ---- the cases the issue lists ------------------------------------------------------------------------------

    @Test
    void unetLayersPerBlockAMillion() throws IOException {
        Path m = tiny();
        Path f = m.resolve("unet/config.json");
        edit(f, "layers_per_block", 1_000_000);
        ConfigException e = refused(f, "layers_per_block", () -> loadUNet(m));
        assertEquals("1000000 is out of range [1, 64]", e.problem());
    }

    @Test
    void schedulerTrainTimestepsABillion() throws IOException {
        Path m = tiny();
        Path f = m.resolve("scheduler/scheduler_config.json");
        edit(f, "num_train_timesteps", 1_000_000_000);
        ConfigException e = refused(f, "num_train_timesteps", () -> SchedulerConfig.read(f));
        assertEquals("1000000000 is out of range [1, 100000]", e.problem());
    }

    @Test
    void textEncoderLayersAMillion() throws IOException {
        Path m = tiny();
        Path f = m.resolve("text_encoder/config.json");
        edit(f, "num_hidden_layers", 1_000_000);
        ConfigException e = refused(f, "num_hidden_layers", () -> loadTextEncoder(m));
        assertEquals("1000000 is out of range [1, 256]", e.problem());
    }

    @Test
    void unetNormGroupsZero() throws IOException {
        Path m = tiny();
        Path f = m.resolve("unet/config.json");
        edit(f, "norm_num_groups", 0);
        ConfigException e = refused(f, "norm_num_groups", () -> loadUNet(m));
        assertEquals("0 is out of range [1, 65536]", e.problem());
    }

    @Test
    void unetSampleSizeABillion() throws IOException {
        Path m = tiny();
        Path f = m.resolve("unet/config.json");
        edit(f, "sample_size", 1_000_000_000);
        ConfigException e = refused(f, "sample_size", () -> loadUNet(m));
        assertEquals("1000000000 is out of range [1, 256]", e.problem());
    }

    @Test
    void schedulerTrainTimestepsZero() throws IOException {
        Path m = tiny();
        Path f = m.resolve("scheduler/scheduler_config.json");
        edit(f, "num_train_timesteps", 0);
        ConfigException e = refused(f, "num_train_timesteps", () -> SchedulerConfig.read(f));
        assertEquals("0 is out of range [1, 100000]", e.problem());
    }

    @Test
    void unetBlockOutChannelsABillion() throws IOException {
        Path m = tiny();
        Path f = m.resolve("unet/config.json");
        edit(f, "block_out_channels", List.of(1_000_000_000, 1_000_000_000));
        ConfigException e = refused(f, "block_out_channels", () -> loadUNet(m));
        assertEquals("1000000000 is out of range [1, 65536]", e.problem());
    }

    @Test
    void vaeLatentChannelsZero() throws IOException {
        Path m = tiny();
        Path f = m.resolve("vae/config.json");
        edit(f, "latent_channels", 0);
        ConfigException e = refused(f, "latent_channels", () -> loadVae(m));
        assertEquals("0 is out of range [1, 65536]", e.problem());
    }

    @Test
    void textEncoderVocabZero() throws IOException {
        Path m = tiny();
        Path f = m.resolve("text_encoder/config.json");
        edit(f, "vocab_size", 0);
        ConfigException e = refused(f, "vocab_size", () -> loadTextEncoder(m));
        assertEquals("0 is out of range [1, 1048576]", e.problem());
    }

    @Test
    void safetensorsHeaderNestedAHundredThousandDeep() {
        byte[] json = "[".repeat(100_000).getBytes(StandardCharsets.US_ASCII);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        Path file = Path.of("deep.safetensors");
        SafeTensorsException e = assertTimeoutPreemptively(FAST, () -> assertThrows(SafeTensorsException.class,
                () -> SafeTensors.parse(file, MemorySegment.ofArray(b.array()))));
        assertTrue(e.getMessage().startsWith("deep.safetensors: header is not valid JSON: "), e.getMessage());
        assertTrue(e.getMessage().contains("nesting depth"), e.getMessage());
    }

    // ---- the weights as the final word ----------------------------------------------------------------------------

    @Test
    void unetLayersPerBlockTheWeightsDoNotHave() throws IOException {
        Path m = tiny();
        Path f = m.resolve("unet/config.json");
        edit(f, "layers_per_block", 2);
        ConfigException e = refused(f, "layers_per_block", () -> loadUNet(m));
        assertEquals("2, but the weights have 1 ('down_blocks.0.resnets.0' to 'down_blocks.0.resnets.0')", e.problem());
    }

    @Test
    void unetChannelsTheWeightsDoNotHave() throws IOException {
        Path m = tiny();
        Path f = m.resolve("unet/config.json");
        edit(f, "block_out_channels", List.of(64, 64));
        ConfigException e = refused(f, "block_out_channels", () -> loadUNet(m));
        assertEquals("64, but the weights have 32 (tensor 'conv_in.weight' has shape [32, 4, 3, 3])", e.problem());
    }

    @Test
    void unetCrossAttentionWidthTheWeightsDoNotHave() throws IOException {
        Path m = tiny();
        Path f = m.resolve("unet/config.json");
        edit(f, "cross_attention_dim", 768);
        ConfigException e = refused(f, "cross_attention_dim", () -> loadUNet(m));
        assertTrue(e.problem().startsWith("768, but the weights have 32 (tensor 'down_blocks.0.attentions.0"), e.problem());
    }

    @Test
    void textEncoderLayersTheWeightsDoNotHave() throws IOException {
        Path m = tiny();
        Path f = m.resolve("text_encoder/config.json");
        edit(f, "num_hidden_layers", 200);
        ConfigException e = refused(f, "num_hidden_layers", () -> loadTextEncoder(m));
        assertEquals("200, but the weights have 2 ('text_model.encoder.layers.0' to 'text_model.encoder.layers.1')", e.problem());
    }

    @Test
    void textEncoderVocabTheWeightsDoNotHave() throws IOException {
        Path m = tiny();
        Path f = m.resolve("text_encoder/config.json");
        edit(f, "vocab_size", 49408);
        ConfigException e = refused(f, "vocab_size", () -> loadTextEncoder(m));
        assertEquals("49408, but the weights have 1000 (tensor 'text_model.embeddings.token_embedding.weight' has shape [1000, 32])",
                e.problem());
    }

    @Test
    void vaeLayersTheWeightsDoNotHave() throws IOException {
        Path m = tiny();
        Path f = m.resolve("vae/config.json");
        edit(f, "layers_per_block", 60);
        ConfigException e = refused(f, "layers_per_block", () -> loadVae(m));
        assertTrue(e.problem().startsWith("60, but the weights have 1 "), e.problem());
    }

    // ---- types and the other files ----------------------------------------------------------------------------------

    @Test
    void wrongTypesAreNamed() throws IOException {
        Path m = tiny();
        Path f = m.resolve("unet/config.json");
        edit(f, "layers_per_block", "two");
        assertEquals("must be an integer, not \"two\"", refused(f, "layers_per_block", () -> loadUNet(m)).problem());
        Path v = m.resolve("vae/config.json");
        edit(v, "block_out_channels", 64);
        assertEquals("must be a list of integers, not 64", refused(v, "block_out_channels", () -> loadVae(m)).problem());
        Path t = m.resolve("text_encoder/config.json");
        edit(t, "hidden_size", 32.5);
        assertEquals("must be an integer, not 32.5", refused(t, "hidden_size", () -> loadTextEncoder(m)).problem());
        edit(f, "layers_per_block", 1);
        edit(f, "only_cross_attention", List.of(false, "yes"));
        assertEquals("entry 1 must be true or false, not \"yes\"", refused(f, "only_cross_attention", () -> loadUNet(m)).problem());
        Path s = m.resolve("scheduler/scheduler_config.json");
        edit(s, "num_train_timesteps", 999.5);
        ConfigException e = assertThrows(ConfigException.class, () -> SchedulerConfig.read(s));
        assertEquals(s + ": num_train_timesteps: must be an integer, not 999.5", e.getMessage());
        assertEquals("num_train_timesteps", e.field());
        edit(s, "num_train_timesteps", 1000);
        edit(s, "beta_start", "small");
        assertEquals(s + ": beta_start: must be a number, not \"small\"",
                assertThrows(ConfigException.class, () -> SchedulerConfig.read(s)).getMessage());
        edit(s, "beta_start", 0.00085);
        edit(s, "trained_betas", List.of(0.1, "x"));
        assertEquals(s + ": trained_betas: entry 1 must be a number, not \"x\"",
                assertThrows(ConfigException.class, () -> SchedulerConfig.read(s)).getMessage());
    }

    @Test
    void tokenizerMaxLengthIsBounded() throws IOException {
        Path m = tiny();
        Path f = m.resolve("tokenizer/tokenizer_config.json");
        Files.writeString(f, "{\"model_max_length\": 2147483647}");
        assertEquals("2147483647 is out of range [2, 4096] (or 1e30 for no limit)",
                refused(f, "model_max_length", () -> CLIPTokenizer.load(m.resolve("tokenizer"))).problem());
        Files.writeString(f, "{\"model_max_length\": 1000000000000000019884624838656}");
        assertEquals(77, CLIPTokenizer.load(m.resolve("tokenizer")).maxLength(), "transformers' no-limit keeps 77");
    }

    @Test
    void tokenizerLongerThanTheTextEncoderIsRefused() throws IOException {
        Path m = tiny();
        Path f = m.resolve("tokenizer/tokenizer_config.json");
        Files.writeString(f, "{\"model_max_length\": 78}");
        assertEquals("78, but the text encoder has 77 positions",
                refused(f, "model_max_length", () -> StableDiffusionPipeline.load(m, backend).close()).problem());
    }

    @Test
    void modelIndexComponentsAreChecked() throws IOException {
        Path m = tiny();
        Path f = m.resolve("model_index.json");
        edit(f, "unet", List.of("diffusers"));
        assertTrue(refused(f, "unet", () -> ModelIndex.read(f)).problem().startsWith("not a [library, class] pair"));
    }

    @Test
    void configNestedTooDeepIsOneLine() throws IOException {
        Path m = tiny();
        Path f = m.resolve("unet/config.json");
        Files.writeString(f, "{\"a\": " + "[".repeat(100_000));
        IllegalArgumentException e = assertTimeoutPreemptively(FAST, () -> assertThrows(IllegalArgumentException.class, () -> loadUNet(m)));
        assertTrue(e.getMessage().startsWith(f + ": not valid JSON: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void theTinyModelStillLoads() throws IOException {
        Path m = tiny();
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(m, backend)) {
            assertEquals(16, p.defaultSize(), "sample_size 8 × the VAE's factor 2");
        }
    }

    // ---- the command line ---------------------------------------------------------------------------------------------

    @Test
    void generateOnABrokenModelIsExitTwoWithOneLine() throws IOException {
        Path m = tiny();
        for (String[] edit : List.of(new String[] {"unet/config.json", "layers_per_block"},
                new String[] {"text_encoder/config.json", "num_hidden_layers"},
                new String[] {"scheduler/scheduler_config.json", "num_train_timesteps"})) {
            Path f = m.resolve(edit[0]);
            String before = Files.readString(f);
            edit(f, edit[1], 1_000_000_000);
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            int code = assertTimeoutPreemptively(FAST, () -> Main.run(new PrintWriter(out), new PrintWriter(err), "generate",
                    "--model", m.toString(), "--prompt", "a horse", "--steps", "1", "--backend", "cpu",
                    "--out", tmp.resolve("x.png").toString()));
            assertEquals(Main.EXIT_USAGE, code, err.toString());
            List<String> lines = err.toString().lines().toList();
            assertEquals(1, lines.size(), err.toString());
            assertTrue(lines.get(0).contains(f + ": " + edit[1] + ": 1000000000 is out of range"), lines.get(0));
            Files.writeString(f, before);
        }
    }

    @Test
    void presetsStillRead() {
        assertEquals(64, dev.panamadiffusion.models.unet.UNet2DConditionConfig.sd15().sampleSize());
        assertEquals(96, dev.panamadiffusion.models.unet.UNet2DConditionConfig.sd21().sampleSize());
        assertEquals(4, dev.panamadiffusion.models.vae.AutoencoderKLConfig.sd15().latentChannels());
        assertEquals(49408, dev.panamadiffusion.models.clip.CLIPTextConfig.sd15().vocabSize());
        assertEquals(1000, SchedulerConfig.sd15().numTrainTimesteps());
    }
}
