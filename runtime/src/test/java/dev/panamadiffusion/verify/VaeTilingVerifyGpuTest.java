package dev.panamadiffusion.verify;

import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code pdiff verify reference/vae_tiling} on the CUDA backend (NVIDIA's driver, or the CUDA emulator): the tiles are
 * cut and blended on the host around the f16 decoder and encoder, and every tiled and untiled pass is within the f16
 * bounds of {@link Tolerances#f16()} of diffusers'.
 */
@Tag("gpu")
class VaeTilingVerifyGpuTest {
    @Test
    void tiledDecodeAndEncodeMatchDiffusersOnCuda() {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        Path dir = Path.of(System.getProperty("pd.home", "..")).resolve("reference/vae_tiling");
        List<CheckResult> results;
        try (CudaBackend backend = new CudaBackend(1L << 30)) {
            results = new Verifier(backend, Tolerances.f16()).runAll(dir);
        }
        for (CheckResult r : results) System.out.println("[gpu] " + r.line());
        assertEquals(20, results.size(), "5 recorded cases x (decode, encode) x (tiled, untiled)");
        assertTrue(results.stream().allMatch(CheckResult::passed),
                results.stream().filter(r -> !r.passed()).map(CheckResult::line).toList().toString());
    }
}
