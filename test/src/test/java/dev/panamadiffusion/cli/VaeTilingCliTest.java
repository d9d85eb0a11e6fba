package dev.panamadiffusion.cli;

import dev.panamadiffusion.testing.Png;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * VAE tiling from the command line: {@code pdiff verify reference/vae_tiling}; {@code generate --vae-tiling} on the demo
 * model (64 px tiles) at 96 x 96, text to image and image to image, against the same run untiled; the bad combinations
 * of {@code --vae-tiling} and {@code --vae-tile-size}, each one line and exit code 2, for generate and serve.
 */
class VaeTilingCliTest {
    private static final Path HOME = Path.of(System.getProperty("pd.home", ".."));

    @Test
    void verifyReplaysTheTilingSets() {
        CliRun r = CliRun.run("verify", HOME.resolve("reference/vae_tiling").toString(), "--backend", "cpu");
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().strip().endsWith("20 passed, 0 failed"), r.out());
        assertTrue(r.out().contains("demo/vae_tiling_default decode tiled"), r.out());
    }

    @Test
    void generateTilesTheDecodeWhenAsked(@TempDir Path tmp) throws IOException {
        byte[] auto = generate(tmp, "auto.png");
        byte[] off = generate(tmp, "off.png", "--vae-tiling", "off");
        byte[] on = generate(tmp, "on.png", "--vae-tiling");
        byte[] big = generate(tmp, "big.png", "--vae-tiling", "on", "--vae-tile-size", "96");
        byte[] small = generate(tmp, "small.png", "--vae-tiling", "on", "--vae-tile-size", "32");
        assertArrayEquals(Png.rgb(off), Png.rgb(auto), "auto: 96 x 96 is far below 1024 x 1024, decoded whole");
        assertArrayEquals(Png.rgb(off), Png.rgb(big), "96 px tiles: the latents fit one tile, so diffusers decodes whole");
        assertFalse(Arrays.equals(Png.rgb(off), Png.rgb(on)), "64 px tiles: decoded in 2 x 2 tiles");
        assertFalse(Arrays.equals(Png.rgb(on), Png.rgb(small)), "32 px tiles: 4 x 4 tiles");
        assertEquals(96 * 96 * 3, Png.rgb(on).length);

        // image to image: the init picture is encoded in tiles too (tiled_encode), so the start differs
        byte[] img2imgOff = generate(tmp, "i-off.png", "--init-image", tmp.resolve("off.png").toString(), "--strength", "0.5",
                "--vae-tiling", "off");
        byte[] img2imgOn = generate(tmp, "i-on.png", "--init-image", tmp.resolve("off.png").toString(), "--strength", "0.5",
                "--vae-tiling", "on");
        assertFalse(Arrays.equals(Png.rgb(img2imgOff), Png.rgb(img2imgOn)));
    }

    private static byte[] generate(Path tmp, String name, String... extra) throws IOException {
        Path out = tmp.resolve(name);
        List<String> args = new ArrayList<>(List.of("generate", "--prompt", "a small red circle in the center on a white background",
                "--seed", "3", "--steps", "2", "--backend", "cpu", "--out", out.toString()));
        if (!Arrays.asList(extra).contains("--init-image")) args.addAll(List.of("--width", "96", "--height", "96"));
        args.addAll(List.of(extra));
        CliRun r = CliRun.run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        return Files.readAllBytes(out);
    }

    @Test
    void badCombinationsAreOneLineWithExitCode2(@TempDir Path tmp) {
        String out = tmp.resolve("x.png").toString();
        refused("error: --vae-tile-size 64 needs VAE tiling, but --vae-tiling is off",
                "generate", "-p", "a cat", "--backend", "cpu", "--out", out, "--vae-tiling", "off", "--vae-tile-size", "64");
        refused("error: --vae-tiling: expected auto, on or off, got 'sometimes'",
                "generate", "-p", "a cat", "--backend", "cpu", "--out", out, "--vae-tiling", "sometimes");
        refused("error: --vae-tile-size: VAE tile size 48 is not a multiple of 32 (4 x the VAE's scale 8: tiles overlap by a"
                + " quarter, in whole latents); try 32 or 64",
                "generate", "-p", "a cat", "--backend", "cpu", "--out", out, "--vae-tile-size", "48");
        refused("error: --vae-tile-size must be between 1 and 16384 pixels, got 0",
                "generate", "-p", "a cat", "--backend", "cpu", "--out", out, "--vae-tiling", "--vae-tile-size", "0");
        refused("error: --vae-tile-size 64 needs VAE tiling, but --vae-tiling is off",
                "serve", "--backend", "cpu", "--port", "0", "--vae-tiling", "off", "--vae-tile-size", "64");
        refused("error: --vae-tile-size: VAE tile size 100 is not a multiple of 32 (4 x the VAE's scale 8: tiles overlap by a"
                + " quarter, in whole latents); try 96 or 128", "serve", "--backend", "cpu", "--port", "0", "--vae-tile-size", "100");
        assertFalse(Files.exists(tmp.resolve("x.png")));
    }

    private static void refused(String line, String... args) {
        CliRun r = CliRun.run(args);
        assertEquals(2, r.exit(), r.err());
        assertEquals(List.of(line), r.errLines());
    }
}
