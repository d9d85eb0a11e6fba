package dev.panamadiffusion.testing;

import dev.panamadiffusion.verify.ReferenceModelFolder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Test access to the reference data and to model folders assembled from its tiny components. */
public final class TinyModel {
    /** The tokenizers {@link #assemble} can write. */
    public enum Tokenizer {
        TINY_BPE(ReferenceModelFolder.Tokenizer.TINY_BPE),
        FOLDED_CLIP(ReferenceModelFolder.Tokenizer.FOLDED_CLIP),
        REAL_CLIP(ReferenceModelFolder.Tokenizer.REAL_CLIP);

        final ReferenceModelFolder.Tokenizer kind;

        Tokenizer(ReferenceModelFolder.Tokenizer kind) { this.kind = kind; }
    }

    private TinyModel() {}

    /** The reference folder from {@code -Dpd.reference}; missing data fails the test (it is always present in CI). */
    public static Path reference() {
        String p = System.getProperty("pd.reference");
        assertTrue(p != null && Files.isDirectory(Path.of(p, "tiny")), "reference data missing: -Dpd.reference=" + p);
        return Path.of(p);
    }

    /** A model folder in {@code dest} whose scheduler is {@code scheduler_<scheduler>/} of the reference. */
    public static Path assemble(Path dest, String scheduler, Tokenizer tokenizer) throws IOException {
        return ReferenceModelFolder.assemble(reference(), dest, scheduler, tokenizer.kind);
    }

    /**
     * The CUDA backend's name for the CUDA these tests bind to ({@code -Dpd.cuda.driver}, {@code auto} in the build):
     * {@code cuda} on a machine with NVIDIA's driver, {@code cuda-emu} on the CUDA emulator everywhere else. Fails
     * the test when neither can start.
     */
    public static String cudaBackend() {
        dev.panamadiffusion.cuda.CudaStatus s = dev.panamadiffusion.cuda.CudaProbe.probe();
        assertTrue(s.available(), s.message());
        return dev.panamadiffusion.cuda.CudaProbe.boundDriver() == dev.panamadiffusion.cuda.CudaDriver.EMULATOR ? "cuda-emu" : "cuda";
    }

    public static void copyDir(Path from, Path to) throws IOException { ReferenceModelFolder.copyDir(from, to); }

    public static void deleteTree(Path dir) throws IOException { ReferenceModelFolder.deleteTree(dir); }
}
