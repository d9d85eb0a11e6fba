package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.io.ModelFiles;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.WeightBindingException;
import dev.panamadiffusion.weights.Weights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * LCM-distilled UNets ({@code time_cond_proj_dim}): the guidance-scale embedding and {@code time_embedding.cond_proj}
 * against diffusers 0.27.2 (the repository's {@code reference/few-step/lcm_w}, tools/refgen/gen_lcm.py).
 */
class TimeCondProjTest {
    private static Path set() {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference/few-step/lcm_w");
        assertTrue(Files.isDirectory(p), "missing " + p + " (-Dpd.home)");
        return p;
    }

    static Stream<Backend> backends() { return Stream.of(new NaiveBackend(), new CpuBackend(2)); }

    @ParameterizedTest
    @MethodSource("backends")
    void matchesDiffusersWithAndWithoutTimestepCond(Backend backend) {
        Map<String, Tensor> io = SafeTensors.readAll(set().resolve("unet_io.safetensors"));
        try (backend; Arena arena = Arena.ofConfined()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(set().resolve("unet"), backend, arena);
            assertEquals(256, unet.config().timeCondProjDim());
            Tensor sample = backend.upload(io.get("sample"));
            Tensor context = backend.upload(io.get("encoder_hidden_states"));
            double[] t = UNet2DConditionModelTest.timesteps(io.get("timesteps"));
            Tensor cond = io.get("timestep_cond");
            Tensor out = backend.download(unet.forward(sample, t, cond, context));
            Reference.assertClose("with timestep_cond on " + backend.name(), io.get("out"), out, 1e-4);
            Tensor plain = backend.download(unet.forward(sample, t, context));
            Reference.assertClose("without on " + backend.name(), io.get("out_no_timestep_cond"), plain, 1e-4);
            // the condition matters: the two recorded outputs differ by far more than the tolerance
            assertTrue(Reference.error(io.get("out"), io.get("out_no_timestep_cond")).rel() > 1e-2);
            for (Tensor wrong : new Tensor[] {Tensor.zeros(2, 255), Tensor.zeros(1, 256), Tensor.zeros(2, 256, 1)}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> unet.forward(sample, t, wrong, context), wrong.toString());
                assertEquals("UNet timestep condition must be [2, 256], got " + wrong, e.getMessage());
            }
        }
    }

    @Test
    void guidanceEmbeddingIsTorchsToTheLastBitsOfItsFrequencies() {
        Map<String, Tensor> io = SafeTensors.readAll(set().resolve("unet_io.safetensors"));
        double[] w = {io.get("guidance_w").getFloat(0), io.get("guidance_w").getFloat(1)};
        assertArrayEquals(new double[] {7, 0.5}, w);
        float[] expected = io.get("timestep_cond").toFloatArray();
        float[] got = UNet2DConditionModel.guidanceScaleEmbedding(w, 256).toFloatArray();
        assertEquals(expected.length, got.length);
        // sin and cos of arguments up to 7000: only their own last bits may differ, not the frequencies' (4e-4)
        for (int i = 0; i < got.length; i++) assertEquals(expected[i], got[i], 2e-7, "embedding [" + i + "]");
        // odd widths get a zero column, as diffusers pads them
        Tensor odd = UNet2DConditionModel.guidanceScaleEmbedding(new double[] {1}, 7);
        assertArrayEquals(new long[] {1, 7}, odd.shape());
        assertEquals(0f, odd.getFloat(6));
        assertEquals((float) Math.sin(1000f), odd.getFloat(0));
        assertEquals((float) Math.cos(1000f), odd.getFloat(3));
    }

    @Test
    void theModelsGuidanceEmbeddingHasItsTimeCondProjDim() {
        Map<String, Tensor> io = SafeTensors.readAll(set().resolve("unet_io.safetensors"));
        double[] w = {io.get("guidance_w").getFloat(0), io.get("guidance_w").getFloat(1)};
        try (Arena arena = Arena.ofConfined()) {
            UNet2DConditionModel lcm = UNet2DConditionModel.load(set().resolve("unet"), new NaiveBackend(), arena);
            Tensor got = lcm.guidanceEmbedding(w);                             // diffusers' timestep_cond for w
            assertArrayEquals(new long[] {2, 256}, got.shape());
            float[] expected = io.get("timestep_cond").toFloatArray(), g = got.toFloatArray();
            for (int i = 0; i < g.length; i++) assertEquals(expected[i], g[i], 2e-7, "embedding [" + i + "]");
            UNet2DConditionModel plain = UNet2DConditionModel.load(Reference.tiny().resolve("unet"), new NaiveBackend(), arena);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> plain.guidanceEmbedding(w));
            assertEquals("this UNet has no time_cond_proj_dim", e.getMessage());
        }
    }

    @Test
    void sleefExpReproducesTorchsLastBits() {
        // inputs where torch.exp (SLEEF expf, AVX2) differs from the correctly rounded exp, and its results
        int[][] cases = {{0xbe94869b, 0x3f3f89d0}, {0xbf5ec9e8, 0x3ed67216}, {0xbf94869b, 0x3ea07290},
                {0xbfc2f0ab, 0x3e5f4c00}, {0xc050dd4a, 0x3d1cb042}, {0xc08b3e31, 0x3c532e82}, {0xc0a4c554, 0x3bbe3554},
                {0xc0bbfa5c, 0x3b383434}, {0xc0d5817f, 0x3aa5e8ea}, {0xc0e36e1d, 0x3a56bf12}, {0xc0ef08a1, 0x3a156ec4},
                {0xc0f8510b, 0x39df9c2a}, {0xc0ff475a, 0x39b3e36c}, {0xc10699fc, 0x3968d6f0}, {0xc12c4ec4, 0x37b07884},
                {0x412c4ec4, 0x4739af66}};
        for (int[] c : cases) {
            float x = Float.intBitsToFloat(c[0]);
            assertNotEquals(c[1], Float.floatToRawIntBits((float) Math.exp(x)), "a case where exp rounds differently: " + x);
            assertEquals(c[1], Float.floatToRawIntBits(SleefExp.expf(x)), "exp(" + x + ")");
        }
        for (float x = -100f; x <= 80f; x += 0.37f) {
            float e = (float) Math.exp(x);
            assertEquals(e, SleefExp.expf(x), Math.ulp(e), "within one ulp at " + x);
        }
        assertEquals(0f, SleefExp.expf(-200f));
        assertEquals(1f, SleefExp.expf(0f));
    }

    @Test
    void condProjWeightMustMatchTheConfig() {
        try (Arena arena = Arena.ofConfined()) {
            Backend backend = new NaiveBackend();
            Map<String, Tensor> weights = new LinkedHashMap<>(ModelFiles.loadWeights(set().resolve("unet"), arena));
            var json = (com.fasterxml.jackson.databind.node.ObjectNode) dev.panamadiffusion.config.ConfigJson.tree(
                    set().resolve("unet/config.json"));
            // the config without time_cond_proj_dim leaves cond_proj unbound: an unexpected key
            json.putNull("time_cond_proj_dim");
            UNet2DConditionConfig plain = UNet2DConditionConfig.fromJson(json);
            assertThrows(WeightBindingException.class, () -> {
                Weights w = Weights.of(weights, backend, "lcm_w unet without time_cond_proj_dim");
                new UNet2DConditionModel(plain, w);
                w.finish();
            });
            // a width the weights do not have names the key
            json.put("time_cond_proj_dim", 128);
            UNet2DConditionConfig wrong = UNet2DConditionConfig.fromJson(json);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> wrong.checkWeights(set().resolve("unet/config.json"), weights));
            assertTrue(e.getMessage().contains("time_cond_proj_dim"), e.getMessage());
        }
    }
}
