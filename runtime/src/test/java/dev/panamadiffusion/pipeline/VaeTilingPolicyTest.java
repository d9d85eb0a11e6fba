package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.models.vae.VaeTiles;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link VaeTiling}'s own checks: the record's ranges at their edges, the suggestion for a tile below one step,
 * {@link VaeTiling#check} with a VAE whose own {@code sample_size} does not tile (refused unless tiling is off),
 * and what {@code toString} tells apart.
 */
class VaeTilingPolicyTest {
    static final Path DEMO = Path.of(System.getProperty("pd.home", "..")).resolve("models/pdiff-demo");
    static CpuBackend backend;

    @BeforeAll
    static void start() { backend = new CpuBackend(1); }

    @AfterAll
    static void close() { backend.close(); }

    @Test
    void rangesAtTheirEdges() {
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> new VaeTiling(null, 0, 0));
        assertEquals("VAE tiling mode is required", none.getMessage());
        assertEquals(0, new VaeTiling(VaeTiling.Mode.ON, 0, 0).tileSize(), "0: the VAE's own");
        assertEquals(VaeTiles.MAX_TILE, new VaeTiling(VaeTiling.Mode.ON, VaeTiles.MAX_TILE, 0).tileSize());
        assertThrows(IllegalArgumentException.class, () -> new VaeTiling(VaeTiling.Mode.ON, VaeTiles.MAX_TILE + 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new VaeTiling(VaeTiling.Mode.ON, -1, 0));
        assertEquals(0, VaeTiling.AUTO.withAutoPixels(0).autoPixels(), "0: every picture with a pixel is tiled");
        IllegalArgumentException negative = assertThrows(IllegalArgumentException.class, () -> VaeTiling.AUTO.withAutoPixels(-1));
        assertEquals("VAE tiling threshold must be >= 0 pixels, got -1", negative.getMessage());
    }

    @Test
    void aTileBelowOneStepSuggestsTheStep() {
        assertEquals("VAE tile size 16 is not a multiple of 32 (4 x the VAE's scale 8: tiles overlap by a quarter, in whole"
                + " latents); try 32", VaeTiling.ON.withTileSize(16).problem(8));
        assertNull(VaeTiling.ON.problem(8), "the VAE's own size is checked against the VAE, not here");
    }

    /** The demo VAE (scale 8) with {@code sample_size} 60: 7 latents are 56 pixels, not 60, so its own tiles do not fit. */
    static AutoencoderKL vaeWithSampleSize(Path dir, int sampleSize) throws IOException {
        Path vae = Files.createDirectories(dir.resolve("vae"));
        String config = Files.readString(DEMO.resolve("vae/config.json")).replace("\"sample_size\": 64", "\"sample_size\": " + sampleSize);
        assertTrue(config.contains("\"sample_size\": " + sampleSize));
        Files.writeString(vae.resolve("config.json"), config);
        Files.createSymbolicLink(vae.resolve("diffusion_pytorch_model.safetensors"),
                DEMO.resolve("vae/diffusion_pytorch_model.safetensors").toAbsolutePath());
        return AutoencoderKL.load(vae, backend, Arena.ofAuto());
    }

    @Test
    void checkRefusesAVaeWhoseOwnTilesDoNotFitUnlessTilingIsOff(@TempDir Path dir) throws IOException {
        AutoencoderKL bad = vaeWithSampleSize(dir, 60);
        VaeTiling.OFF.check(bad); // never tiles, so the VAE's tiles do not matter
        IllegalArgumentException on = assertThrows(IllegalArgumentException.class, () -> VaeTiling.ON.check(bad));
        assertTrue(on.getMessage().startsWith("tile_sample_min_size 60 is not tile_latent_min_size 7"), on.getMessage());
        assertThrows(IllegalArgumentException.class, () -> VaeTiling.AUTO.check(bad), "auto may tile, so it is checked too");
        VaeTiling.ON.withTileSize(64).check(bad); // a tile size of its own that fits: the VAE's sample_size is not used
    }

    @Test
    void toStringTellsApartWhatDiffers() {
        assertEquals("auto", VaeTiling.AUTO.toString());
        assertEquals("on", VaeTiling.ON.toString());
        assertEquals("off", VaeTiling.OFF.toString());
        assertTrue(VaeTiling.ON.withTileSize(256).toString().contains("256"));
        assertTrue(VaeTiling.AUTO.withAutoPixels(4096).toString().contains("4096"));
        assertEquals("on", VaeTiling.ON.withAutoPixels(4096).toString(), "the threshold matters to auto only");
    }
}
