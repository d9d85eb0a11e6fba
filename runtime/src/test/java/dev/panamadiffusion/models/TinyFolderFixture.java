package dev.panamadiffusion.models;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

/**
 * What tests that load edited model folders share (PipelineLoader's consistency checks, config validation): one CPU
 * backend per test class, and a fresh diffusers folder of the tiny reference model (DDIM, the tiny BPE tokenizer) per
 * test, to edit before loading.
 */
public abstract class TinyFolderFixture {
    protected static final ObjectMapper JSON = new ObjectMapper();
    protected static CpuBackend backend;

    @TempDir
    protected Path tmp;

    @BeforeAll
    static void start() { backend = new CpuBackend(1); }

    @AfterAll
    static void stop() { backend.close(); }

    /** A new copy of the tiny model, as a diffusers folder under this test's temporary folder. */
    protected Path tiny() throws IOException {
        return ReferenceModelFolder.assemble(Reference.tiny().getParent(), tmp.resolve("m"), "ddim", ReferenceModelFolder.Tokenizer.TINY_BPE);
    }
}
