package dev.panamadiffusion.models.vae;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link AutoencoderKLConfig}'s own checks at the edges of each range, its diffusers defaults, and
 * {@link AutoencoderKLConfig#checkWeights}: each config value that disagrees with the tiny reference VAE's weights is
 * refused naming that key.
 */
class AutoencoderKLConfigCheckTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    Path tmp;

    private static AutoencoderKLConfig config(int in, int out, String[] down, String[] up, int[] channels, int layers, String act,
                                              int latent, int groups, int sample, double scaling) {
        return new AutoencoderKLConfig(in, out, down, up, channels, layers, act, latent, groups, sample, scaling, null, null, null, null);
    }

    private static AutoencoderKLConfig ok() { return config(3, 3, null, null, new int[] {32, 64}, 1, null, 4, 32, 16, 0.5); }

    private static ConfigException refused(String field, org.junit.jupiter.api.function.Executable e) {
        ConfigException x = assertThrows(ConfigException.class, e);
        assertEquals(field, x.field(), x.getMessage());
        return x;
    }

    @Test
    void nullsTakeDiffusersDefaults() {
        AutoencoderKLConfig c = ok();
        assertArrayEquals(new String[] {"DownEncoderBlock2D", "DownEncoderBlock2D"}, c.downBlockTypes());
        assertArrayEquals(new String[] {"UpDecoderBlock2D", "UpDecoderBlock2D"}, c.upBlockTypes());
        assertEquals("silu", c.actFn());
        assertTrue(c.forceUpcast());
        assertTrue(c.useQuantConv());
        assertTrue(c.usePostQuantConv());
        assertTrue(c.midBlockAddAttention());
        AutoencoderKLConfig given = new AutoencoderKLConfig(3, 3, null, null, new int[] {32}, 1, "silu", 4, 32, 16, 0.5,
                false, false, false, false);
        assertFalse(given.forceUpcast());
        assertFalse(given.useQuantConv());
        assertFalse(given.usePostQuantConv());
        assertFalse(given.midBlockAddAttention());
        assertArrayEquals(new int[] {64}, config(3, 3, null, null, null, 1, null, 4, 32, 16, 0.5).blockOutChannels());
    }

    @Test
    void eachSizeIsCheckedAtBothEnds() {
        int max = AutoencoderKLConfig.MAX_CHANNELS;
        config(1, max, null, null, new int[] {32}, AutoencoderKLConfig.MAX_LAYERS, null, max, 32, 1 << 14, 1e-9);
        refused("in_channels", () -> config(0, 3, null, null, new int[] {32}, 1, null, 4, 32, 16, 0.5));
        refused("in_channels", () -> config(max + 1, 3, null, null, new int[] {32}, 1, null, 4, 32, 16, 0.5));
        refused("out_channels", () -> config(3, 0, null, null, new int[] {32}, 1, null, 4, 32, 16, 0.5));
        refused("latent_channels", () -> config(3, 3, null, null, new int[] {32}, 1, null, 0, 32, 16, 0.5));
        refused("norm_num_groups", () -> config(3, 3, null, null, new int[] {32}, 1, null, 4, 0, 16, 0.5));
        refused("layers_per_block", () -> config(3, 3, null, null, new int[] {32}, 0, null, 4, 32, 16, 0.5));
        refused("layers_per_block", () -> config(3, 3, null, null, new int[] {32}, AutoencoderKLConfig.MAX_LAYERS + 1, null, 4, 32, 16, 0.5));
        refused("sample_size", () -> config(3, 3, null, null, new int[] {32}, 1, null, 4, 32, (1 << 14) + 1, 0.5));
        ConfigException e = refused("in_channels", () -> config(0, 3, null, null, new int[] {32}, 1, null, 4, 32, 16, 0.5));
        assertEquals("0 is out of range [1, " + max + "]", e.problem());
        for (double bad : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            refused("scaling_factor", () -> config(3, 3, null, null, new int[] {32}, 1, null, 4, 32, 16, bad));
        }
    }

    @Test
    void blocksAndTheirTypes() {
        refused("block_out_channels", () -> config(3, 3, null, null, new int[0], 1, null, 4, 32, 16, 0.5));
        int[] eight = {32, 32, 32, 32, 32, 32, 32, 32};
        assertEquals(8, config(3, 3, null, null, eight, 1, null, 4, 32, 16, 0.5).blockOutChannels().length);
        ConfigException e = refused("block_out_channels", () -> config(3, 3, null, null,
                new int[] {32, 32, 32, 32, 32, 32, 32, 32, 32}, 1, null, 4, 32, 16, 0.5));
        assertEquals("has 9 entries, more than 8", e.problem());
        refused("down_block_types/up_block_types", () -> config(3, 3, new String[] {"DownEncoderBlock2D"}, null,
                new int[] {32, 64}, 1, null, 4, 32, 16, 0.5));
        refused("down_block_types/up_block_types", () -> config(3, 3, null, new String[] {"UpDecoderBlock2D"},
                new int[] {32, 64}, 1, null, 4, 32, 16, 0.5));
        refused("down_block_types", () -> config(3, 3, new String[] {"DownBlock2D"}, null, new int[] {32}, 1, null, 4, 32, 16, 0.5));
        refused("up_block_types", () -> config(3, 3, null, new String[] {"UpBlock2D"}, new int[] {32}, 1, null, 4, 32, 16, 0.5));
        refused("act_fn", () -> config(3, 3, null, null, new int[] {32}, 1, "gelu", 4, 32, 16, 0.5));
        refused("block_out_channels", () -> config(3, 3, null, null, new int[] {48}, 1, null, 4, 32, 16, 0.5));
        refused("block_out_channels", () -> config(3, 3, null, null, new int[] {0}, 1, null, 4, 32, 16, 0.5));
        refused("block_out_channels", () -> config(3, 3, null, null, new int[] {-32}, 1, null, 4, 32, 16, 0.5));
        refused("block_out_channels", () -> config(3, 3, null, null, new int[] {AutoencoderKLConfig.MAX_CHANNELS + 32}, 1, null, 4, 32, 16, 0.5));
        assertEquals(AutoencoderKLConfig.MAX_CHANNELS,
                config(3, 3, null, null, new int[] {AutoencoderKLConfig.MAX_CHANNELS}, 1, null, 4, 32, 16, 0.5).blockOutChannels()[0]);
    }

    @Test
    void valueEqualityCoversEveryField() {
        AutoencoderKLConfig a = ok();
        assertEquals(a, ok());
        assertEquals(a.hashCode(), ok().hashCode());
        assertNotEquals(a, "x");
        assertNotEquals(a, config(1, 3, null, null, new int[] {32, 64}, 1, null, 4, 32, 16, 0.5));
        assertNotEquals(a, config(3, 1, null, null, new int[] {32, 64}, 1, null, 4, 32, 16, 0.5));
        assertNotEquals(a, config(3, 3, null, null, new int[] {32, 32}, 1, null, 4, 32, 16, 0.5));
        assertNotEquals(a, config(3, 3, null, null, new int[] {32, 64}, 2, null, 4, 32, 16, 0.5));
        assertNotEquals(a, config(3, 3, null, null, new int[] {32, 64}, 1, null, 8, 32, 16, 0.5));
        assertNotEquals(a, config(3, 3, null, null, new int[] {32, 64}, 1, null, 4, 16, 16, 0.5));
        assertNotEquals(a, config(3, 3, null, null, new int[] {32, 64}, 1, null, 4, 32, 32, 0.5));
        assertNotEquals(a, config(3, 3, null, null, new int[] {32, 64}, 1, null, 4, 32, 16, 0.25));
        for (int flag = 0; flag < 4; flag++) {
            AutoencoderKLConfig b = new AutoencoderKLConfig(3, 3, null, null, new int[] {32, 64}, 1, null, 4, 32, 16, 0.5,
                    flag != 0, flag != 1, flag != 2, flag != 3);
            assertNotEquals(a, b, "boolean " + flag);
        }
        assertNotEquals(a.hashCode(), config(3, 3, null, null, new int[] {32, 64}, 1, null, 8, 32, 16, 0.5).hashCode());
        assertNotEquals(a.hashCode(), config(3, 3, null, null, new int[] {32, 64}, 1, null, 4, 32, 16, 0.25).hashCode());
        assertNotEquals(a.hashCode(), config(3, 3, null, null, new int[] {64, 64}, 1, null, 4, 32, 16, 0.5).hashCode());
        assertTrue(a.toString().startsWith("AutoencoderKLConfig[block_out_channels=[32, 64], layers_per_block=1, latent_channels=4"), a.toString());
    }

    private Path writeConfig(Consumer<ObjectNode> edit) throws Exception {
        ObjectNode j = (ObjectNode) JSON.readTree(Reference.tiny().resolve("vae/config.json").toFile());
        edit.accept(j);
        Path p = tmp.resolve("config-" + System.nanoTime() + ".json");
        JSON.writeValue(p.toFile(), j);
        return p;
    }

    @Test
    void readTakesDefaultsOnlyForAbsentKeys() throws Exception {
        AutoencoderKLConfig tiny = AutoencoderKLConfig.read(writeConfig(j -> {}));
        assertArrayEquals(new int[] {32, 64}, tiny.blockOutChannels());
        assertEquals(16, tiny.sampleSize());
        assertTrue(tiny.forceUpcast());
        AutoencoderKLConfig flags = AutoencoderKLConfig.read(writeConfig(j -> j.put("force_upcast", false).put("use_quant_conv", false)
                .put("use_post_quant_conv", false).put("mid_block_add_attention", false)));
        assertFalse(flags.forceUpcast());
        assertFalse(flags.useQuantConv());
        assertFalse(flags.usePostQuantConv());
        assertFalse(flags.midBlockAddAttention());
        AutoencoderKLConfig bare = AutoencoderKLConfig.read(writeConfig(j -> {
            j.remove("down_block_types");
            j.remove("up_block_types");
            j.remove("scaling_factor");
        }));
        assertArrayEquals(new String[] {"DownEncoderBlock2D", "DownEncoderBlock2D"}, bare.downBlockTypes());
        assertEquals(0.18215, bare.scalingFactor());
        Path bad = writeConfig(j -> j.put("act_fn", "relu"));
        ConfigException e = assertThrows(ConfigException.class, () -> AutoencoderKLConfig.read(bad));
        assertEquals(bad, e.file(), "the constructor's complaint names the file it came from");
    }

    @Test
    void checkWeightsNamesTheKeyThatDisagreesWithTheWeights() throws Exception {
        Map<String, Tensor> weights = SafeTensors.readAll(Reference.tiny().resolve("vae/diffusion_pytorch_model.safetensors"));
        Path file = writeConfig(j -> {});
        AutoencoderKLConfig.read(file).checkWeights(file, weights);
        assertMismatch("in_channels", weights, j -> j.put("in_channels", 4));
        assertMismatch("out_channels", weights, j -> j.put("out_channels", 4));
        assertMismatch("latent_channels", weights, j -> j.put("latent_channels", 8));
        assertMismatch("block_out_channels", weights, j -> j.putArray("block_out_channels").add(32).add(32));
        assertMismatch("block_out_channels", weights, j -> {
            j.putArray("block_out_channels").add(32);
            j.putArray("down_block_types").add("DownEncoderBlock2D");
            j.putArray("up_block_types").add("UpDecoderBlock2D");
        });
        ConfigException e = assertMismatch("layers_per_block", weights, j -> j.put("layers_per_block", 2));
        assertTrue(e.getMessage().contains("encoder.down_blocks.0.resnets."), e.getMessage());
        // the encoder as configured, the decoder missing its last resnet: only the decoder's count catches it
        Map<String, Tensor> shortDecoder = new HashMap<>(weights);
        shortDecoder.keySet().removeIf(k -> k.startsWith("decoder.up_blocks.1.resnets.1."));
        e = assertThrows(ConfigException.class, () -> AutoencoderKLConfig.read(file).checkWeights(file, shortDecoder));
        assertEquals("layers_per_block", e.field());
        assertTrue(e.getMessage().contains("decoder.up_blocks.1.resnets."), e.getMessage());
        // a decoder with one block fewer than the encoder
        Map<String, Tensor> fewerUp = new HashMap<>(weights);
        fewerUp.keySet().removeIf(k -> k.startsWith("decoder.up_blocks.1."));
        e = assertThrows(ConfigException.class, () -> AutoencoderKLConfig.read(file).checkWeights(file, fewerUp));
        assertEquals("block_out_channels", e.field());
        assertTrue(e.getMessage().contains("decoder.up_blocks."), e.getMessage());
    }

    private ConfigException assertMismatch(String field, Map<String, Tensor> weights, Consumer<ObjectNode> edit) throws Exception {
        Path file = writeConfig(edit);
        AutoencoderKLConfig c = AutoencoderKLConfig.read(file);
        ConfigException e = assertThrows(ConfigException.class, () -> c.checkWeights(file, weights), field);
        assertEquals(field, e.field(), e.getMessage());
        assertEquals(file, e.file());
        assertTrue(Files.exists(file));
        return e;
    }
}
