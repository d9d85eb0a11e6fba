package dev.panamadiffusion.cli;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Single-file checkpoints through the CLI: {@code verify} replays reference/single-file (the LDM files against what
 * diffusers computed from the diffusers folders), and {@code generate --model FILE} refuses what it cannot load with
 * one line and exit code 2.
 */
class SingleFileCliTest {
    private static Path sets() {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference/single-file");
        assertTrue(Files.isDirectory(p.resolve("sd1")), "reference/single-file missing at " + p.toAbsolutePath());
        return p;
    }

    @Test
    void verifyReplaysBothSingleFileSets() {
        CliRun r = CliRun.run("verify", sets().toString(), "--backend", "cpu");
        List<String> lines = r.out().lines().toList();
        assertEquals("14 passed, 0 failed", lines.getLast(), r.out() + r.err());
        assertEquals(0, r.exit());
        for (String set : List.of("sd1/", "sd2-v/")) {
            for (String check : List.of("text_encoder last_hidden_state", "text_encoder pooler_output", "unet t=[10,500]",
                    "vae decode", "vae encode mean")) {
                assertTrue(lines.stream().anyMatch(l -> l.startsWith(set + check) && l.endsWith("PASS")), set + check + "\n" + r.out());
            }
        }
    }

    @Test
    void verifyFailsWhenTheCheckpointIsNotTheRecordedOne(@TempDir Path tmp) throws IOException {
        Path set = tmp.resolve("sd1");
        Files.createDirectories(set);
        try (var files = Files.list(sets().resolve("sd1"))) {
            for (Path f : files.toList()) Files.copy(f, set.resolve(f.getFileName()));
        }
        byte[] b = Files.readAllBytes(set.resolve("tiny-sd1.safetensors"));
        b[b.length - 1] ^= 1; // one bit of the last tensor
        Files.write(set.resolve("tiny-sd1.safetensors"), b);
        CliRun r = CliRun.run("verify", set.toString(), "--backend", "cpu");
        assertEquals(1, r.exit(), r.out());
        assertTrue(r.out().contains("has sha256") && r.out().contains("other weights"), r.out());
    }

    @Test
    void refusalsAreOneLineAndExitCode2(@TempDir Path tmp) throws IOException {
        Path pickle = Files.write(tmp.resolve("model.ckpt"), new byte[] {'P', 'K', 3, 4});
        assertRefused(generate(pickle), "is a pickle checkpoint", "can run arbitrary code", "convert");

        byte[] whole = Files.readAllBytes(sets().resolve("sd1/tiny-sd1.safetensors"));
        Path cut = Files.write(tmp.resolve("cut.safetensors"), Arrays.copyOf(whole, whole.length - 1000));
        assertRefused(generate(cut), "is not a complete safetensors file", "truncated");

        Map<String, Tensor> partial = new LinkedHashMap<>(SafeTensors.readAll(sets().resolve("sd1/tiny-sd1.safetensors")));
        partial.keySet().removeIf(k -> k.startsWith("first_stage_model.decoder.up.0.block.1."));
        Path missing = tmp.resolve("partial.safetensors");
        SafeTensors.write(missing, partial, Map.of());
        assertRefused(generate(missing), "incomplete SD 1.x checkpoint", "first_stage_model.decoder.up.0.block.1.norm1.weight");

        Path unknown = tmp.resolve("other.safetensors");
        SafeTensors.write(unknown, Map.of("transformer.h.0.attn.weight", Tensor.zeros(2, 2)), Map.of());
        assertRefused(generate(unknown), "not a Stable Diffusion checkpoint in the original (LDM) layout", "transformer.h.0.attn.weight");

        Path sdxl = tmp.resolve("sdxl.safetensors");
        SafeTensors.write(sdxl, Map.of("conditioner.embedders.0.transformer.text_model.final_layer_norm.weight", Tensor.zeros(4),
                "model.diffusion_model.out.2.weight", Tensor.zeros(4)), Map.of());
        assertRefused(generate(sdxl), "Stable Diffusion XL", "not supported yet");

        CliRun badType = CliRun.run("generate", "--model", sets().resolve("sd1/tiny-sd1.safetensors").toString(),
                "--prediction-type", "x0", "-p", "a", "-o", tmp.resolve("x.png").toString());
        assertRefused(badType, "unknown prediction type 'x0'");
    }

    private static CliRun generate(Path model) {
        return CliRun.run("generate", "--model", model.toString(), "-p", "a cat", "--steps", "2", "--backend", "cpu",
                "-o", model.resolveSibling("out.png").toString());
    }

    private static void assertRefused(CliRun r, String... expected) {
        assertEquals(2, r.exit(), r.err());
        assertEquals(1, r.errLines().size(), r.err());
        for (String e : expected) assertTrue(r.err().contains(e), "'" + e + "' not in: " + r.err());
    }
}
