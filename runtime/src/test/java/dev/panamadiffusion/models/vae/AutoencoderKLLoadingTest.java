package dev.panamadiffusion.models.vae;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Loading a VAE from a model folder (reference/sdxl, whose VAE config sets {@code force_upcast}) and the backend it
 * then computes on: diffusers' SDXL pipelines upcast such a VAE to float32, its SD pipelines never look at the flag.
 */
class AutoencoderKLLoadingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Path sdxl() {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl");
        assertTrue(Files.isDirectory(p), "missing " + p);
        return p;
    }

    /** A half-precision backend stand-in: it computes nothing itself; its {@code float32()} is {@code f32}. */
    private static Backend half(Backend f32) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "float32" -> f32;
                    case "name" -> "f16";
                    case "toString" -> "f16 stand-in";
                    default -> throw new UnsupportedOperationException("the f16 stand-in computes nothing: " + method.getName());
                });
    }

    @Test
    void aModelFoldersVaeDecodesAsDiffusers() {
        Map<String, Tensor> io = SafeTensors.readAll(sdxl().resolve("vae_io.safetensors"));
        NaiveBackend backend = new NaiveBackend();
        try (Arena arena = Arena.ofConfined()) {
            AutoencoderKL vae = AutoencoderKL.load(ModelFolder.open(sdxl()), "vae", backend, arena);
            assertSame(backend, vae.backend(), "an SD pipeline's VAE runs on the pipeline's backend");
            assertEquals(0.13025f, vae.scalingFactor());
            Reference.assertClose("sdxl vae from its model folder", io.get("decoded"),
                    backend.download(vae.decode(io.get("latents"))), 1e-4);
        }
    }

    @Test
    void anSdxlPipelineRunsAForceUpcastVaeOnTheFloat32Backend() throws Exception {
        NaiveBackend f32 = new NaiveBackend();
        Backend f16 = half(f32);
        AutoencoderKLConfig upcast = AutoencoderKLConfig.read(sdxl().resolve("vae/config.json"));
        assertTrue(upcast.forceUpcast());
        ObjectNode j = (ObjectNode) JSON.readTree(sdxl().resolve("vae/config.json").toFile());
        j.put("force_upcast", false);
        AutoencoderKLConfig asIs = AutoencoderKLConfig.read(sdxl().resolve("vae/config.json"), j);
        assertFalse(asIs.forceUpcast());

        assertSame(f32, AutoencoderKL.computeBackend(upcast, f16, true));
        assertSame(f16, AutoencoderKL.computeBackend(upcast, f16, false), "SD 1.x/2.x pipelines never upcast");
        assertSame(f16, AutoencoderKL.computeBackend(asIs, f16, true), "force_upcast false: the VAE runs in f16");

        Map<String, Tensor> io = SafeTensors.readAll(sdxl().resolve("vae_io.safetensors"));
        try (Arena arena = Arena.ofConfined()) {
            // loaded onto the float32 backend: nothing reaches the f16 one (it would throw)
            AutoencoderKL fromDir = AutoencoderKL.load(sdxl().resolve("vae"), f16, arena, true);
            assertSame(f32, fromDir.backend());
            AutoencoderKL fromFolder = AutoencoderKL.load(ModelFolder.open(sdxl()), "vae", f16, arena, true);
            assertSame(f32, fromFolder.backend());
            Reference.assertClose("upcast sdxl vae", io.get("decoded"), f32.download(fromFolder.decode(io.get("latents"))), 1e-4);
        }
    }

    @Test
    void aModelFoldersVaeConfigIsCheckedAgainstItsWeights(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("sdxl");
        ReferenceModelFolder.copyDir(sdxl(), model);
        Path config = model.resolve("vae/config.json");
        ObjectNode j = (ObjectNode) JSON.readTree(config.toFile());
        j.put("latent_channels", 8);
        JSON.writeValue(config.toFile(), j);
        for (boolean sdxlPipeline : new boolean[] {false, true}) {
            try (Arena arena = Arena.ofConfined()) {
                ConfigException e = assertThrows(ConfigException.class,
                        () -> AutoencoderKL.load(ModelFolder.open(model), "vae", new NaiveBackend(), arena, sdxlPipeline));
                assertEquals("latent_channels", e.field(), e.getMessage());
                assertEquals(config, e.file());
            }
        }
    }
}
