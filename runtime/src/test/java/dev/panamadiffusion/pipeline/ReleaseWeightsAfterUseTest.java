package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link StableDiffusionPipeline#releaseWeightsAfterUse}: the text encoder's weights are handed back once the prompt is
 * encoded, the UNet's after the last step and before the decode, the pictures do not change, and the next request
 * (which packs them again) makes the same pictures.
 */
class ReleaseWeightsAfterUseTest {
    @TempDir
    static Path tmp;

    /** A backend call, in order: the op's name, and for releaseWeights the number of weights released. */
    private record Call(String op, int released) {}

    /** {@code inner} with every call recorded in {@code calls}. */
    private static Backend recording(Backend inner, List<Call> calls) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class}, (proxy, m, args) -> {
            int released = m.getName().equals("releaseWeights") ? ((Collection<?>) args[0]).size() : 0;
            if (released > 0) {
                for (Object t : (Collection<?>) args[0]) {
                    int rank = ((Tensor) t).rank();
                    assertTrue(rank == 2 || rank == 4, "only linear and convolution weights are released, got rank " + rank);
                }
            }
            calls.add(new Call(m.getName(), released));
            try {
                return m.invoke(inner, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
    }

    private static int last(List<Call> calls, String op) {
        for (int i = calls.size() - 1; i >= 0; i--) if (calls.get(i).op().equals(op)) return i;
        return -1;
    }

    private static int first(List<Call> calls, String op, int from) {
        for (int i = from; i < calls.size(); i++) if (calls.get(i).op().equals(op)) return i;
        return -1;
    }

    @Test
    void textEncoderAfterThePromptUNetAfterTheLastStepSamePictures() throws Exception {
        Path model = ReferenceModelFolder.assemble(Reference.tiny().getParent(), tmp.resolve("tiny-sd"), "ddim",
                ReferenceModelFolder.Tokenizer.TINY_BPE);
        GenerationRequest request = GenerationRequest.of("a red cube").withSteps(3).withGuidanceScale(7.5).withSeed(5)
                .withSize(16, 16);
        byte[] expected;
        int keptPacked;
        try (CpuBackend cpu = new CpuBackend(2); StableDiffusionPipeline kept = StableDiffusionPipeline.load(model, cpu)) {
            expected = kept.generate(request, null, null).images().get(0).rgb();
            keptPacked = cpu.cachedWeights();
        }

        List<Call> calls = new ArrayList<>();
        try (CpuBackend cpu = new CpuBackend(2);
             StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(model, recording(cpu, calls))) {
            assertFalse(pipeline.releaseWeightsAfterUse(), "off by default");
            pipeline.releaseWeightsAfterUse(true);
            assertTrue(pipeline.releaseWeightsAfterUse());
            calls.clear();
            assertArrayEquals(expected, pipeline.generate(request, null, null).images().get(0).rgb());

            List<Call> releases = calls.stream().filter(c -> c.op().equals("releaseWeights")).toList();
            assertEquals(2, releases.size(), "the text encoder's, then the UNet's: " + releases);
            int text = calls.indexOf(releases.get(0)), unet = calls.lastIndexOf(releases.get(1));
            assertTrue(last(calls, "embedding") >= 0 && text > last(calls, "embedding"), "the text encoder ran after its release");
            assertTrue(first(calls, "addChannelwise", 0) > text, "the UNet ran before the text encoder's release");
            // the UNet's resnets add the time embedding; the VAE's have none
            assertTrue(last(calls, "addChannelwise") < unet, "the UNet ran after its release");
            assertTrue(first(calls, "conv2d", unet) > unet, "the VAE decodes after the UNet's release");
            assertTrue(releases.get(1).released() > releases.get(0).released(), "the UNet has more weights: " + releases);
            assertTrue(cpu.cachedWeights() < keptPacked, "released panels are freed: " + cpu.cachedWeights() + " of " + keptPacked);

            // the next request packs them again and makes the same picture
            assertArrayEquals(expected, pipeline.generate(request, null, null).images().get(0).rgb());
        }
    }

    @Test
    void sdxlHandsBackBothTextEncodersThenTheUNet() {
        List<Call> calls = new ArrayList<>();
        try (CpuBackend cpu = new CpuBackend(2);
             StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(SdxlPipelineTest.set(), recording(cpu, calls))) {
            pipeline.releaseWeightsAfterUse(true);
            calls.clear();
            pipeline.generate(new GenerationRequest("a cube", "", 2, 5.0, null, 3, 0, 0, 1, 0, RngKind.TORCH), null, null);
            List<Call> releases = calls.stream().filter(c -> c.op().equals("releaseWeights")).toList();
            assertEquals(3, releases.size(), "text_encoder's, text_encoder_2's, then the UNet's: " + releases);
        }
    }

    @Test
    void theRefinerWithoutAFirstTextEncoderHandsBackItsOneAndTheUNet() {
        List<Call> calls = new ArrayList<>();
        try (CpuBackend cpu = new CpuBackend(2); StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(
                SdxlPipelineTest.referenceModel("sdxl-refiner"), recording(cpu, calls))) {
            pipeline.releaseWeightsAfterUse(true);
            calls.clear();
            int side = pipeline.defaultSize();
            byte[] rgb = new byte[side * side * 3];
            new java.util.Random(4).nextBytes(rgb);
            InitImage init = new InitImage(new dev.panamadiffusion.image.Rgb8Image(side, side, rgb), 0.5);
            pipeline.generate(new GenerationRequest("a cube", "", 4, 1.0, null, 3, 0, 0, 1, 0, RngKind.TORCH),
                    PipelineInputs.of(init), null, null);
            List<Call> releases = calls.stream().filter(c -> c.op().equals("releaseWeights")).toList();
            assertEquals(2, releases.size(), "text_encoder_2's, then the UNet's: " + releases);
        }
    }
}
