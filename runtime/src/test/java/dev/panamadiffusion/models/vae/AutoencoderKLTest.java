package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.rng.NoiseGenerator;
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
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class AutoencoderKLTest {
    static final double TOL = 1e-4;
    static final CpuBackend backend = new CpuBackend(2);
    static Map<String, Tensor> io;
    static AutoencoderKL vae;

    /** The naive reference ops and a fresh CPU backend (JUnit closes parameters after each invocation). */
    static Stream<Backend> backends() { return Stream.of(new NaiveBackend(), new CpuBackend(2)); }

    static AutoencoderKL load(Backend b) { return AutoencoderKL.load(Reference.tiny().resolve("vae"), b, Arena.ofAuto()); }

    @BeforeAll
    static void load() {
        io = Reference.read("vae_io.safetensors");
        vae = load(backend);
    }

    @AfterAll
    static void close() { backend.close(); }

    @Test
    void configMirrorsConfigJson() {
        AutoencoderKLConfig c = vae.config();
        assertArrayEquals(new int[] {32, 64}, c.blockOutChannels());
        assertArrayEquals(new String[] {"DownEncoderBlock2D", "DownEncoderBlock2D"}, c.downBlockTypes());
        assertEquals(1, c.layersPerBlock());
        assertEquals(4, c.latentChannels());
        assertEquals(32, c.normNumGroups());
        assertEquals(16, c.sampleSize());
        assertEquals(0.18215f, vae.scalingFactor());
        assertTrue(c.useQuantConv() && c.usePostQuantConv() && c.midBlockAddAttention());
    }

    @ParameterizedTest
    @MethodSource("backends")
    void decodeMatchesDiffusers(Backend backend) {
        Tensor out = backend.download(load(backend).decode(backend.upload(io.get("latents"))));
        assertArrayEquals(new long[] {1, 3, 16, 16}, out.shape());
        Reference.assertClose("vae decoded on " + backend.name(), io.get("decoded"), out, TOL);
    }

    @Test
    void decodeHandsItsIntermediatesBackAsItGoes() {
        try (CpuBackend cpu = new CpuBackend(2)) {
            AutoencoderKL vae = load(cpu);
            long c = io.get("latents").dim(1);
            float[] v = new float[Math.toIntExact(c * 64 * 64)];
            for (int i = 0; i < v.length; i++) v[i] = (float) Math.sin(i * 0.37);
            Tensor latents = cpu.upload(Tensor.fromFloats(v, 1, c, 64, 64)); // every activation large enough to pool
            long lent = cpu.activationBytes(), released = cpu.releasedActivationBytes();
            Tensor out = vae.decode(latents);
            long all = cpu.activationBytes() - lent, back = cpu.releasedActivationBytes() - released;
            assertTrue(back >= 0.95 * all, "released " + back + " of " + all + " bytes of activations");
            assertTrue(back <= all - out.byteSize(), "the picture is the caller's: " + back + " of " + all);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void encodeMatchesDiffusers(Backend backend) {
        DiagonalGaussianDistribution d = load(backend).encode(backend.upload(io.get("enc_image")));
        Reference.assertClose("vae enc_mean on " + backend.name(), io.get("enc_mean"), d.mean(), TOL);
        Reference.assertClose("vae enc_logvar on " + backend.name(), io.get("enc_logvar"), d.logvar(), TOL);
        float[] lv = io.get("enc_logvar").toFloatArray(), std = d.std().toFloatArray();
        for (int i = 0; i < lv.length; i++) assertEquals(Math.exp(0.5 * lv[i]), std[i], 1e-4 * Math.exp(0.5 * lv[i]));
    }

    @Test
    void sampleIsMeanPlusStdTimesNoise() {
        DiagonalGaussianDistribution d = vae.encode(backend.upload(io.get("enc_image")));
        float[] eps = new float[4 * 8 * 8];
        for (int i = 0; i < eps.length; i++) eps[i] = (float) Math.sin(i * 0.37);
        NoiseGenerator noise = shape -> {
            assertArrayEquals(new long[] {1, 4, 8, 8}, shape);
            return Tensor.fromFloats(eps.clone(), shape);
        };
        float[] s = d.sample(noise).toFloatArray(), m = d.mean().toFloatArray(), sd = d.std().toFloatArray();
        for (int i = 0; i < s.length; i++) assertEquals(m[i] + sd[i] * eps[i], s[i], 1e-6);
    }

    @Test
    void logvarIsClamped() {
        float[] v = new float[2 * 2];
        v[0] = 1; v[1] = 2; v[2] = -100; v[3] = 100; // mean [1,2], logvar [-100, 100]
        DiagonalGaussianDistribution d = new DiagonalGaussianDistribution(Tensor.fromFloats(v, 1, 2, 1, 2));
        assertArrayEquals(new float[] {1, 2}, d.mean().toFloatArray());
        assertArrayEquals(new float[] {-30, 20}, d.logvar().toFloatArray());
        assertEquals((float) Math.exp(10), d.std().toFloatArray()[1], 1e-2);
    }

    @Test
    void legacyAttentionKeyNamesBindToTheSameModel() {
        Map<String, Tensor> weights = new LinkedHashMap<>();
        Map<String, String> rename = Map.of("to_q", "query", "to_k", "key", "to_v", "value", "to_out.0", "proj_attn");
        for (Map.Entry<String, Tensor> e : Reference.read("vae_weights.safetensors").entrySet()) {
            String k = e.getKey();
            for (Map.Entry<String, String> r : rename.entrySet()) {
                k = k.replace("attentions.0." + r.getKey() + ".", "attentions.0." + r.getValue() + ".");
            }
            weights.put(k, e.getValue());
        }
        assertTrue(weights.containsKey("decoder.mid_block.attentions.0.proj_attn.weight"));
        Weights w = Weights.of(weights, backend, "legacy vae");
        AutoencoderKL legacy = new AutoencoderKL(vae.config(), w);
        w.finish();
        Reference.assertClose("vae decoded (legacy keys) on cpu", io.get("decoded"),
                backend.download(legacy.decode(backend.upload(io.get("latents")))), TOL);
    }

    @Test
    void missingWeightsAreListed(@TempDir Path dir) throws IOException {
        Map<String, Tensor> weights = new LinkedHashMap<>(Reference.read("vae_weights.safetensors"));
        weights.remove("decoder.up_blocks.1.resnets.0.conv_shortcut.weight");
        weights.remove("encoder.mid_block.attentions.0.to_out.0.bias");
        Files.copy(Reference.tiny().resolve("vae/config.json"), dir.resolve("config.json"));
        SafeTensors.write(dir.resolve("diffusion_pytorch_model.safetensors"), weights, Map.of());
        WeightBindingException e = assertThrows(WeightBindingException.class, () -> AutoencoderKL.load(dir, backend, Arena.ofAuto()));
        assertEquals(List.of("encoder.mid_block.attentions.0.to_out.0.bias [64]",
                "decoder.up_blocks.1.resnets.0.conv_shortcut.weight [32, 64, 1, 1]"), e.missing(), e.getMessage());
        assertTrue(e.getMessage().contains("decoder.up_blocks.1.resnets.0.conv_shortcut.weight"), e.getMessage());
        assertTrue(e.unexpected().isEmpty());
    }

    @Test
    void wrongLatentChannelsAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> vae.decode(backend.upload(Tensor.zeros(1, 3, 8, 8))));
        assertTrue(e.getMessage().contains("[B, 4, H, W]"), e.getMessage());
    }

    @Test
    void configDefaultsAndUnsupportedBlocks(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("a.json"), "{\"block_out_channels\": [32, 64], \"latents_mean\": null, \"foo\": 1}");
        AutoencoderKLConfig c = AutoencoderKLConfig.read(dir.resolve("a.json"));
        assertArrayEquals(new String[] {"UpDecoderBlock2D", "UpDecoderBlock2D"}, c.upBlockTypes());
        assertEquals(0.18215, c.scalingFactor());
        assertTrue(c.midBlockAddAttention());
        Files.writeString(dir.resolve("b.json"), "{\"block_out_channels\": [32], \"down_block_types\": [\"AttnDownEncoderBlock2D\"]}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AutoencoderKLConfig.read(dir.resolve("b.json")));
        assertTrue(e.getMessage().contains("b.json") && e.getMessage().contains("AttnDownEncoderBlock2D"), e.getMessage());
    }
}
