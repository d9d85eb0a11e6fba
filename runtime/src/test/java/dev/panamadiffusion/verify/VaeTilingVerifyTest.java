package dev.panamadiffusion.verify;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code pdiff verify} on reference/vae_tiling (docs/VERIFY.md, "VAE tiling"): every recorded case's tiled and untiled
 * decode and encode at the CPU's f32 bounds; a file that records inputs but no outputs fails saying so.
 */
class VaeTilingVerifyTest {
    private static final Path DIR = Path.of(System.getProperty("pd.home", "..")).resolve("reference/vae_tiling");

    @Test
    void replaysEveryRecordedCase() {
        assertEquals(List.of("demo/", "tiny/"), ReferenceSet.find(DIR).stream().map(ReferenceSet::label).toList());
        assertEquals(4, ReferenceSet.find(DIR).get(1).vaeTilings().size());
        List<CheckResult> results;
        try (CpuBackend backend = new CpuBackend(2)) {
            results = new Verifier(backend, Tolerances.f32()).runAll(DIR);
        }
        for (CheckResult r : results) System.out.println(r.line());
        assertTrue(results.stream().allMatch(CheckResult::passed),
                results.stream().filter(r -> !r.passed()).map(CheckResult::line).toList().toString());
        for (String check : List.of(" decode tiled", " decode", " encode tiled", " encode")) {
            assertEquals(5, results.stream().filter(r -> r.name().endsWith(check)).count(), check);
        }
        assertTrue(results.stream().anyMatch(r -> r.name().equals("tiny/vae_tiling_small decode tiled")));
    }

    @Test
    void aFileWithoutOutputsFails(@TempDir Path tmp) throws IOException {
        Path set = tmp.resolve("set");
        Files.createDirectories(set);
        Map<String, dev.panamadiffusion.tensor.Tensor> io = new java.util.TreeMap<>(
                dev.panamadiffusion.io.SafeTensors.readAll(DIR.resolve("tiny/vae_tiling_small.safetensors")));
        io.keySet().removeIf(k -> k.startsWith("decoded") || k.startsWith("enc_mean") || k.startsWith("enc_logvar"));
        dev.panamadiffusion.io.SafeTensors.write(set.resolve("vae_tiling_x.safetensors"), io, Map.of());
        List<CheckResult> results;
        try (CpuBackend backend = new CpuBackend(2)) {
            results = new Verifier(backend, Tolerances.f32()).runAll(set);
        }
        assertEquals(1, results.size(), results.toString());
        assertTrue(!results.get(0).passed() && results.get(0).detail().contains("records nothing to compare"), results.get(0).line());
    }
}
