package dev.panamadiffusion.cli;

import dev.panamadiffusion.io.DemoModel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code pdiff generate} with no {@code --model}: the README's first command, on the demo model of the checkout. */
class DemoModelCliTest {
    @Test
    void generateWithoutModelUsesTheDemoModel(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("circle.png");
        CliRun r = CliRun.run("generate", "--prompt", "a red circle on a blue background", "--seed", "7", "--backend", "cpu",
                "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("20/20"), "progress bar (Euler a: 20 steps): " + r.err());
        assertEquals("a red circle on a blue background\nSteps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 7, Size: 64x64, "
                + "Model: pdiff-demo, RNG: CPU", GenerateEndToEndTest.textChunks(Files.readAllBytes(out)).get("parameters"));
    }

    @Test
    void missingDemoModelIsOneClearLine(@TempDir Path tmp) {
        String saved = System.getProperty(DemoModel.MODEL_PROPERTY);
        System.setProperty(DemoModel.MODEL_PROPERTY, tmp.resolve("nowhere").toString());
        try {
            CliRun r = CliRun.run("generate", "--prompt", "a cat", "--backend", "cpu", "--out", tmp.resolve("x.png").toString());
            assertEquals(2, r.exit());
            assertEquals(1, r.errLines().size(), r.err());
            assertTrue(r.err().contains("demo model is not at") && r.err().contains("--model DIR"), r.err());
        } finally {
            if (saved == null) System.clearProperty(DemoModel.MODEL_PROPERTY);
            else System.setProperty(DemoModel.MODEL_PROPERTY, saved);
        }
    }
}
