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

/** Parity of the tiny SD 1.x-layout UNet with diffusers 0.27.2 (reference/tiny/unet_io.safetensors). */
class UNet2DConditionModelTest {
    static final double TOLERANCE = 1e-4;

    static double[] timesteps(Tensor t) {
        long[] v = t.toLongArray();
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) out[i] = v[i];
        return out;
    }

    static Stream<Backend> backends() { return Stream.of(new NaiveBackend(), new CpuBackend(2)); }

    @ParameterizedTest
    @MethodSource("backends")
    void matchesDiffusersAtTwoTimestepsAndAScalarTimestep(Backend backend) {
        Path tiny = Reference.tiny();
        Map<String, Tensor> io = SafeTensors.readAll(tiny.resolve("unet_io.safetensors"));
        try (backend; Arena arena = Arena.ofConfined()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(tiny.resolve("unet"), backend, arena);
            Tensor sample = backend.upload(io.get("sample"));
            Tensor context = backend.upload(io.get("encoder_hidden_states"));
            double[] ts = timesteps(io.get("timesteps"));
            assertArrayEquals(new double[] {10, 500}, ts);

            Tensor out = backend.download(unet.forward(sample, ts, context));
            Reference.assertClose("UNet on " + backend.name() + ", timesteps [10, 500]", io.get("out"), out, TOLERANCE);

            Tensor scalar = backend.download(unet.forward(sample, 500, context));
            Reference.assertClose("UNet on " + backend.name() + ", scalar timestep 500", io.get("out_t500_scalar"), scalar, TOLERANCE);
        }
    }

    @Test
    void handsItsIntermediatesBackAsItGoesNotToTheCollector() {
        Path tiny = Reference.tiny();
        Map<String, Tensor> io = SafeTensors.readAll(tiny.resolve("unet_io.safetensors"));
        try (CpuBackend cpu = new CpuBackend(2); Arena arena = Arena.ofConfined()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(tiny.resolve("unet"), cpu, arena);
            long n = io.get("sample").dim(0), c = io.get("sample").dim(1);
            float[] v = new float[Math.toIntExact(n * c * 64 * 64)];
            for (int i = 0; i < v.length; i++) v[i] = (float) Math.sin(i * 0.37);
            Tensor sample = cpu.upload(Tensor.fromFloats(v, n, c, 64, 64)); // large enough that every activation is pooled
            Tensor context = cpu.upload(io.get("encoder_hidden_states"));
            long lent = cpu.activationBytes(), released = cpu.releasedActivationBytes();
            Tensor out = unet.forward(sample, timesteps(io.get("timesteps")), context);
            long step = cpu.activationBytes() - lent, back = cpu.releasedActivationBytes() - released;
            // everything but the output (and results below the pool's minimum: time embeddings, text keys/values)
            assertTrue(back >= 0.95 * step, "released " + back + " of " + step + " bytes of activations");
            assertTrue(back <= step - out.byteSize(), "the output is the caller's: " + back + " of " + step);
        }
    }

    @Test
    void linearProjectionPathEqualsConvolutionWithTheSameWeights() {
        // SD 2.x's use_linear_projection: proj_in/proj_out are Linear [C, C] instead of 1x1 Conv2d [C, C, 1, 1];
        // with the conv weights reshaped (what diffusers does when converting) the output must not change.
        Path tiny = Reference.tiny();
        Map<String, Tensor> io = SafeTensors.readAll(tiny.resolve("unet_io.safetensors"));
        Backend backend = new NaiveBackend();
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> weights = new LinkedHashMap<>();
            int reshaped = 0;
            for (Map.Entry<String, Tensor> e : ModelFiles.loadWeights(tiny.resolve("unet"), arena).entrySet()) {
                Tensor t = e.getValue();
                if (e.getKey().matches(".*attentions\\.\\d+\\.proj_(in|out)\\.weight")) {
                    t = t.reshape(t.dim(0), t.dim(1));
                    reshaped++;
                }
                weights.put(e.getKey(), t);
            }
            assertEquals(8, reshaped); // transformers in down 0, mid and up 1 (two): four, two projections each
            var json = dev.panamadiffusion.config.ConfigJson.tree(tiny.resolve("unet/config.json"));
            ((com.fasterxml.jackson.databind.node.ObjectNode) json).put("use_linear_projection", true);
            ((com.fasterxml.jackson.databind.node.ObjectNode) json).putArray("attention_head_dim").add(8).add(8);
            UNet2DConditionConfig config = UNet2DConditionConfig.fromJson(json);
            assertTrue(config.useLinearProjection());
            Weights w = Weights.of(weights, backend, "tiny unet, linear projections");
            UNet2DConditionModel unet = new UNet2DConditionModel(config, w);
            w.finish();
            Tensor out = backend.download(unet.forward(backend.upload(io.get("sample")), timesteps(io.get("timesteps")),
                    backend.upload(io.get("encoder_hidden_states"))));
            Reference.assertClose("UNet with linear projections", io.get("out"), out, TOLERANCE);
        }
    }

    @Test
    void aMissingWeightFailsNamingTheKey(@TempDir Path dir) throws IOException {
        Path tiny = Reference.tiny();
        String dropped = "up_blocks.1.attentions.1.transformer_blocks.0.attn2.to_k.weight";
        Path unetDir = dir.resolve("unet");
        Files.createDirectories(unetDir);
        Files.copy(tiny.resolve("unet/config.json"), unetDir.resolve("config.json"));
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> weights = new LinkedHashMap<>(ModelFiles.loadWeights(tiny.resolve("unet"), arena));
            assertNotNull(weights.remove(dropped));
            SafeTensors.write(unetDir.resolve("diffusion_pytorch_model.safetensors"), weights, Map.of());
        }
        try (Arena arena = Arena.ofConfined()) {
            WeightBindingException e = assertThrows(WeightBindingException.class,
                    () -> UNet2DConditionModel.load(unetDir, new NaiveBackend(), arena));
            assertEquals(1, e.missing().size(), e.getMessage());
            assertTrue(e.missing().getFirst().startsWith(dropped), e.getMessage());
            assertTrue(e.getMessage().contains(dropped), e.getMessage());
            assertTrue(e.unexpected().isEmpty() && e.mismatched().isEmpty(), e.getMessage());
        }
    }

    @Test
    void anUnexpectedWeightFailsToo() {
        Path tiny = Reference.tiny();
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> weights = new LinkedHashMap<>(ModelFiles.loadWeights(tiny.resolve("unet"), arena));
            weights.put("mid_block.attentions.1.norm.weight", Tensor.zeros(64));
            Weights w = Weights.of(weights, new NaiveBackend(), "tiny unet");
            new UNet2DConditionModel(UNet2DConditionConfig.read(tiny.resolve("unet/config.json")), w);
            WeightBindingException e = assertThrows(WeightBindingException.class, w::finish);
            assertEquals(java.util.List.of("mid_block.attentions.1.norm.weight"), e.unexpected());
        }
    }

    @Test
    void rejectsInputsOfTheWrongShape() {
        Path tiny = Reference.tiny();
        Backend backend = new NaiveBackend();
        try (Arena arena = Arena.ofConfined()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(tiny.resolve("unet"), backend, arena);
            Tensor ctx = Tensor.zeros(1, 77, 32);
            assertThrows(IllegalArgumentException.class, () -> unet.forward(Tensor.zeros(1, 3, 8, 8), 1, ctx));
            IllegalArgumentException odd = assertThrows(IllegalArgumentException.class,
                    () -> unet.forward(Tensor.zeros(1, 4, 9, 8), 1, ctx));
            assertTrue(odd.getMessage().contains("multiple of 2"), odd.getMessage());
            assertThrows(IllegalArgumentException.class, () -> unet.forward(Tensor.zeros(1, 4, 8, 8), 1, Tensor.zeros(1, 77, 16)));
            assertThrows(IllegalArgumentException.class,
                    () -> unet.forward(Tensor.zeros(1, 4, 8, 8), new double[] {1, 2}, ctx));
        }
    }
}
