package dev.panamadiffusion.testing;

import dev.panamadiffusion.verify.ReferenceModelFolder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Test access to the reference data and to model folders assembled from its tiny components. */
public final class TinyModel {
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();
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

    /**
     * The repository's {@code reference/strength} sets ({@code -Dpd.strength}, set by the build; tools/refgen/README.md),
     * copied to {@code dest} with each {@code components.json} pointing at {@link #reference()}{@code /tiny} (its recorded
     * sha256 kept), so they replay wherever the shared reference is.
     */
    public static Path strength(Path dest) throws IOException {
        String p = System.getProperty("pd.strength");
        assertTrue(p != null && Files.isDirectory(Path.of(p, "one_step")), "reference/strength missing: -Dpd.strength=" + p);
        copyDir(Path.of(p), dest);
        String tiny = reference().resolve("tiny").toAbsolutePath().toString();
        try (java.util.stream.Stream<Path> files = Files.walk(dest)) {
            for (Path f : files.filter(f -> f.getFileName().toString().equals("components.json")).toList()) {
                com.fasterxml.jackson.databind.node.ObjectNode json =
                        (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(f.toFile());
                json.put("components_from", tiny);
                JSON.writeValue(f.toFile(), json);
            }
        }
        return dest;
    }

    /**
     * The repository's {@code reference/few-step} sets ({@code -Dpd.home}, set by the build; tools/refgen/gen_lcm.py),
     * copied to {@code dest} with each {@code components.json} pointing at {@link #reference()}{@code /tiny}, as
     * {@link #strength} does.
     */
    public static Path fewStep(Path dest) throws IOException {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference/few-step");
        assertTrue(Files.isDirectory(p.resolve("lcm")), "reference/few-step missing: -Dpd.home=" + System.getProperty("pd.home"));
        copyDir(p, dest);
        String tiny = reference().resolve("tiny").toAbsolutePath().toString();
        try (java.util.stream.Stream<Path> files = Files.walk(dest)) {
            for (Path f : files.filter(f -> f.getFileName().toString().equals("components.json")).toList()) {
                com.fasterxml.jackson.databind.node.ObjectNode json =
                        (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(f.toFile());
                json.put("components_from", tiny);
                JSON.writeValue(f.toFile(), json);
            }
        }
        return dest;
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
