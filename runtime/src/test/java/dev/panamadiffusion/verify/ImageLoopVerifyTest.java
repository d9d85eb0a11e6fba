package dev.panamadiffusion.verify;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code pdiff verify} on the repository's image to image and inpainting sets (docs/VERIFY.md, "Image to image and
 * inpainting"): every recorded run is replayed through the pipeline, both UNet kinds, and every check passes.
 */
class ImageLoopVerifyTest {
    private static final Path HOME = Path.of(System.getProperty("pd.home", ".."));

    @ParameterizedTest
    @CsvSource({"reference/img2img, 12", "reference/inpaint, 5", "reference/inpaint9, 5"})
    void replaysEveryRecordedRun(String set, int files) throws Exception {
        Path dir = HOME.resolve(set);
        assertEquals(files, ReferenceSet.find(dir).get(0).imageLoops().size(), "recorded runs in " + set);
        List<CheckResult> results;
        try (CpuBackend backend = new CpuBackend(2)) {
            results = new Verifier(backend, Tolerances.f32()).runAll(dir);
        }
        for (CheckResult r : results) System.out.println(r.line());
        assertTrue(results.stream().allMatch(CheckResult::passed),
                results.stream().filter(r -> !r.passed()).map(CheckResult::line).toList().toString());
        assertEquals(files, results.stream().filter(r -> r.name().endsWith(" final latents")).count(), "final latents checks");
        assertTrue(results.stream().filter(r -> r.name().contains(" step ")).count() >= 4L * files, "step checks");
        assertTrue(Files.isRegularFile(dir.resolve("init.png")));
    }
}
