package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.models.vae.VaeTiles;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * When the pipeline decodes and encodes in tiles ({@link VaeTiling}): on, off, auto above 1024 × 1024 pixels (or a
 * threshold given), a tile size of its own; the pipeline's {@code decode}/{@code encode} are the VAE's tiled passes
 * then (on the demo model, whose VAE tiles 64 px / 8 latents), and a tile size the VAE cannot take is refused.
 */
class VaeTilingTest {
    static final Path DEMO = Path.of(System.getProperty("pd.home", "..")).resolve("models/pdiff-demo");
    static CpuBackend backend;
    static StableDiffusionPipeline pipeline;
    static AutoencoderKL vae;

    @BeforeAll
    static void load() {
        backend = new CpuBackend(2);
        pipeline = StableDiffusionPipeline.load(DEMO, backend);
        vae = AutoencoderKL.load(DEMO.resolve("vae"), backend, Arena.ofAuto());
    }

    @AfterAll
    static void close() {
        pipeline.close();
        backend.close();
    }

    @Test
    void policyPicksWhenToTile() {
        assertEquals(VaeTiling.AUTO, pipeline.vaeTiling(), "the default");
        VaeTiles own = new VaeTiles(64, 8, 0.25);
        assertNull(VaeTiling.AUTO.tilesFor(vae, 1024, 1024), "1024 x 1024 decodes whole");
        assertEquals(own, VaeTiling.AUTO.tilesFor(vae, 1024, 1088));
        assertEquals(own, VaeTiling.AUTO.withAutoPixels(96 * 96 - 1).tilesFor(vae, 96, 96));
        assertNull(VaeTiling.AUTO.withAutoPixels(96 * 96).tilesFor(vae, 96, 96));
        assertEquals(own, VaeTiling.ON.tilesFor(vae, 16, 16));
        assertNull(VaeTiling.OFF.tilesFor(vae, 8192, 8192));
        assertEquals(new VaeTiles(128, 16, 0.25), VaeTiling.ON.withTileSize(128).tilesFor(vae, 64, 64));
        assertEquals(VaeTiling.Mode.ON, VaeTiling.parseMode(" On "));
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> VaeTiling.parseMode("sometimes"));
        assertEquals("expected auto, on or off, got 'sometimes'", bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> VaeTiling.OFF.withTileSize(64), "a tile size needs tiling");
        assertThrows(IllegalArgumentException.class, () -> VaeTiling.ON.withTileSize(-32));
        assertEquals("VAE tile size 48 is not a multiple of 32 (4 x the VAE's scale 8: tiles overlap by a quarter, in whole"
                + " latents); try 32 or 64", VaeTiling.ON.withTileSize(48).problem(8));
        assertNull(VaeTiling.ON.withTileSize(512).problem(8));
    }

    @Test
    void pipelineDecodesAndEncodesInTilesWhenTold() {
        SplittableRandom r = new SplittableRandom(5);
        float[] v = new float[4 * 12 * 16];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        Tensor latents = Tensor.fromFloats(v, 1, 4, 12, 16);                             // scaled, as the loop ends
        Tensor z = Latents.divide(latents, vae.scalingFactor());
        float[] pix = new float[3 * 96 * 128];
        for (int i = 0; i < pix.length; i++) pix[i] = (float) Math.sin(i * 0.01);
        Tensor pixels = Tensor.fromFloats(pix, 1, 3, 96, 128);
        VaeTiles own = vae.defaultTiles();
        try {
            float[] whole = vae.decode(z, null).toFloatArray(), tiled = vae.tiledDecode(z, own).toFloatArray();
            assertArrayEquals(whole, pipeline.decode(latents).toFloatArray(), "auto: 96 x 128 decodes whole");
            pipeline.vaeTiling(VaeTiling.ON);
            assertArrayEquals(tiled, pipeline.decode(latents).toFloatArray(), "on: tiled");
            assertFalse(java.util.Arrays.equals(whole, tiled));
            assertArrayEquals(vae.tiledEncode(pixels, own).mean().toFloatArray(), pipeline.encode(pixels).mean().toFloatArray());
            pipeline.vaeTiling(VaeTiling.AUTO.withAutoPixels(96 * 128 - 1));
            assertArrayEquals(tiled, pipeline.decode(latents).toFloatArray(), "auto over a lower threshold: tiled");
            pipeline.vaeTiling(VaeTiling.ON.withTileSize(32));
            assertArrayEquals(vae.tiledDecode(z, new VaeTiles(32, 4, 0.25)).toFloatArray(), pipeline.decode(latents).toFloatArray());
            pipeline.vaeTiling(VaeTiling.OFF);
            assertArrayEquals(whole, pipeline.decode(latents).toFloatArray());
            assertArrayEquals(vae.encode(pixels, null).mean().toFloatArray(), pipeline.encode(pixels).mean().toFloatArray());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> pipeline.vaeTiling(VaeTiling.ON.withTileSize(40)));
            assertTrue(e.getMessage().startsWith("VAE tile size 40 is not a multiple of 32"), e.getMessage());
            assertEquals(VaeTiling.OFF, pipeline.vaeTiling(), "a refused policy leaves the one before");
        } finally {
            pipeline.vaeTiling(VaeTiling.AUTO);
        }
    }
}
