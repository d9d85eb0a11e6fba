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
 * inpainting"): every recorded run is replayed through the pipeline, both UNet kinds, and every check passes; the
 * runs with a blurred mask and {@code padding_mask_crop} ({@code _blur<n>}, {@code _crop<p>}) with their crop box and
 * overlaid picture.
 */
class ImageLoopVerifyTest {
    private static final Path HOME = Path.of(System.getProperty("pd.home", ".."));

    @ParameterizedTest
    @CsvSource({"reference/img2img, 12, 0", "reference/inpaint, 8, 2", "reference/inpaint9, 7, 1"})
    void replaysEveryRecordedRun(String set, int files, int crops) throws Exception {
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
        // the mask runs (mask_blur, padding_mask_crop): the crop box, the overlay of the recorded picture (exact) and
        // the production picture after apply_overlay
        for (String check : List.of(" crop_box", " apply_overlay(image_01)", " image_overlay")) {
            assertEquals(crops, results.stream().filter(r -> r.name().endsWith(check)).count(), check + " checks");
        }
    }
}
