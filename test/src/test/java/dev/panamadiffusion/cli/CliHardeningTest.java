package dev.panamadiffusion.cli;

import dev.panamadiffusion.testing.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What README's exit codes promise: everything the user can fix is one line and exit code 2, checked before any
 * sampling (the demo model, 64x64, unless said otherwise), with no Java class names.
 */
class CliHardeningTest {
    /** Runs {@code generate} with {@code args} and expects exit code 2 and exactly one line, without class names. */
    private static String usageError(String... args) {
        String line = CliRun.generateUsageError(args);      // one line: no sampling progress before the check
        assertFalse(line.matches(".*\\b(java|dev\\.panamadiffusion)\\.\\w+.*") || line.contains("Exception"), line);
        return line;
    }

    @Test
    void absurdSizesAreRefusedByTheLimitsNotByArithmetic(@TempDir Path tmp) {
        String png = tmp.resolve("x.png").toString();
        assertEquals("error: --width must be at most 8192, got 65536; --height must be at most 8192, got 65536",
                usageError("-p", "x", "--width", "65536", "--height", "65536", "--out", png));
        assertEquals("error: --width/--height 1024x1024 is 1048576 pixels; this model allows at most 65536 (16 times its own 64x64)",
                usageError("-p", "x", "--width", "1024", "--height", "1024", "--out", png));
        assertTrue(usageError("-p", "x", "--width", "2147483647", "--out", png).startsWith("error: --width must be at most 8192"));
    }

    @Test
    void outputPathIsCheckedBeforeGenerating(@TempDir Path tmp) throws Exception {
        Path folder = Files.createDirectories(tmp.resolve("already.png"));
        assertEquals("error: --out " + folder + ": " + folder + " is a folder; give a file name",
                usageError("-p", "x", "--steps", "1", "--out", folder.toString()));
        Path file = Files.writeString(tmp.resolve("plain"), "x");
        assertEquals("error: --out " + file.resolve("x.png") + ": " + file + " is a file, not a folder",
                usageError("-p", "x", "--steps", "1", "--out", file.resolve("x.png").toString()));
        assertEquals("error: --out " + tmp.resolve("x.jpg") + " must name a .png file",
                usageError("-p", "x", "--out", tmp.resolve("x.jpg").toString()));
        // a batch checks every numbered file
        Files.createDirectories(tmp.resolve("b-2.png"));
        assertTrue(usageError("-p", "x", "--batch", "2", "--out", tmp.resolve("b.png").toString()).contains("b-2.png is a folder"));
    }

    @Test
    void unwritableFolderIsAUsageError(@TempDir Path tmp) throws Exception {
        Path ro = Files.createDirectories(tmp.resolve("ro"));
        assertTrue(ro.toFile().setWritable(false, false));
        try {
            if (Files.isWritable(ro)) return; // root writes anywhere: nothing to check here
            assertEquals("error: --out " + ro.resolve("x.png") + ": cannot write in " + ro + " (permission denied)",
                    usageError("-p", "x", "--out", ro.resolve("x.png").toString()));
        } finally {
            ro.toFile().setWritable(true, false);
        }
    }

    @Test
    void modelTextEncoderAndBackendMistakesAreExitCode2(@TempDir Path tmp) throws Exception {
        String png = tmp.resolve("x.png").toString();
        assertEquals("error: --clip-skip must be between 0 (the last layer) and 2 (the text encoder has 2 layers), got 100",
                usageError("-p", "x", "--clip-skip", "100", "--out", png));
        CliRun r = CliRun.run("generate", "-p", "x", "--backend", "tpu", "--out", png);
        assertEquals(2, r.exit(), r.err());
        assertEquals("error: unknown backend 'tpu' (use cpu, cuda, cuda-emu or auto)", r.errLines().get(0));
        // a model folder whose weights are missing is the user's to fix
        Path model = TinyModel.assemble(tmp.resolve("m"), "pndm", TinyModel.Tokenizer.TINY_BPE);
        try (var files = Files.list(model.resolve("unet"))) {
            for (Path f : files.toList()) if (f.toString().endsWith(".safetensors")) Files.delete(f);
        }
        String line = usageError("--model", model.toString(), "-p", "x", "--steps", "1", "--out", png);
        assertTrue(line.contains("unet"), line);
        assertFalse(Files.exists(tmp.resolve("x.png")));
    }

    @Test
    void seedsAreUnsigned64Bit(@TempDir Path tmp) throws Exception {
        Path model = TinyModel.assemble(tmp.resolve("m"), "pndm", TinyModel.Tokenizer.TINY_BPE);
        Path out = tmp.resolve("s.png");
        CliRun r = CliRun.run("generate", "--model", model.toString(), "-p", "x", "--steps", "1", "--backend", "cpu",
                "--seed", "18446744073709551614", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("seed 18446744073709551614)"), r.out());
        assertTrue(GenerateEndToEndTest.textChunks(Files.readAllBytes(out)).get("parameters").contains("Seed: 18446744073709551614,"));
        r = CliRun.run("generate", "-p", "x", "--seed", "18446744073709551615", "--out", out.toString());
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("seed must be -1 (random) or a whole number from 0 to 18446744073709551614"), r.err());
    }
}
