package dev.panamadiffusion.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The library locator on fake library files in temporary folders (no CUDA needed). */
class CudaLibrariesTest {
    @TempDir
    Path tmp;

    private Path touch(Path p) throws IOException {
        Files.createDirectories(p.getParent());
        Files.writeString(p, "not a real library");
        return p;
    }

    @Test
    void firstFolderInOrderWins() throws IOException {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        touch(a.resolve("libcublasLt.so.12"));
        touch(b.resolve("libcublasLt.so.13"));
        touch(b.resolve("libcuda.so.1"));
        CudaLibraries libs = CudaLibraries.search(List.of(a, b));
        assertEquals(a.resolve("libcublasLt.so.12").toAbsolutePath(), libs.path(CudaLibraries.Library.CUBLASLT).orElseThrow());
        assertEquals(b.resolve("libcuda.so.1").toAbsolutePath(), libs.path(CudaLibraries.Library.DRIVER).orElseThrow());
        assertTrue(libs.path(CudaLibraries.Library.CUDNN).isEmpty());
    }

    @Test
    void newestSonameWithinAFolder() throws IOException {
        touch(tmp.resolve("libcublasLt.so.12"));
        touch(tmp.resolve("libcublasLt.so.13"));
        CudaLibraries libs = CudaLibraries.search(List.of(tmp));
        assertEquals("libcublasLt.so.13", libs.path(CudaLibraries.Library.CUBLASLT).orElseThrow().getFileName().toString());
    }

    @Test
    void fileEntriesMatchByName() throws IOException {
        Path dnn = touch(tmp.resolve("x/libcudnn.so.9"));
        Path other = touch(tmp.resolve("y/libcudnn.so.8"));
        CudaLibraries libs = CudaLibraries.search(List.of(other, dnn));
        assertEquals(dnn.toAbsolutePath(), libs.path(CudaLibraries.Library.CUDNN).orElseThrow());
    }

    @Test
    void overrideThenLdLibraryPathThenTheRest() throws IOException {
        Path over = Files.createDirectories(tmp.resolve("override"));
        Path ld1 = Files.createDirectories(tmp.resolve("ld1")), ld2 = Files.createDirectories(tmp.resolve("ld2"));
        String ld = ld1 + File.pathSeparator + tmp.resolve("missing") + File.pathSeparator + ld2;
        List<Path> path = CudaLibraries.defaultSearchPath(over.toString(), ld, Map.of());
        assertEquals(List.of(over, ld1, ld2), path.subList(0, 3));
        assertFalse(path.contains(tmp.resolve("missing")), "missing folders are dropped");
    }

    @Test
    void overrideShadowsTheSameLibraryElsewhere() throws IOException {
        Path over = touch(tmp.resolve("override/libcuda.so.1")).getParent();
        Path ld = touch(tmp.resolve("ld/libcuda.so.1")).getParent();
        CudaLibraries libs = CudaLibraries.search(CudaLibraries.defaultSearchPath(over.toString(), ld.toString(), Map.of()));
        assertEquals(over.resolve("libcuda.so.1"), libs.path(CudaLibraries.Library.DRIVER).orElseThrow());
    }

    @Test
    void pythonWheelFoldersOfAVirtualEnv() throws IOException {
        Path venv = tmp.resolve("venv");
        Path site = venv.resolve("lib/python3.12/site-packages");
        Path cublas = touch(site.resolve("nvidia/cublas/lib/libcublasLt.so.13")).getParent();
        Path cudnn = touch(site.resolve("nvidia/cudnn/lib/libcudnn.so.9")).getParent();
        Path cu13 = touch(site.resolve("nvidia/cu13/lib/libnvrtc.so.13")).getParent();
        assertEquals(List.of(cu13, cublas, cudnn), CudaLibraries.nvidiaWheelFolders(site));
        List<Path> path = CudaLibraries.defaultSearchPath(null, null, Map.of("VIRTUAL_ENV", venv.toString()));
        assertTrue(path.containsAll(List.of(cublas, cudnn, cu13)), path.toString());
        CudaLibraries libs = CudaLibraries.search(List.of(cublas, cudnn));
        assertEquals(cudnn.resolve("libcudnn.so.9"), libs.path(CudaLibraries.Library.CUDNN).orElseThrow());
    }

    @Test
    void ldSoConfWithIncludes() throws IOException {
        Path conf = tmp.resolve("ld.so.conf");
        Path d = Files.createDirectories(tmp.resolve("ld.so.conf.d"));
        Files.writeString(conf, "# comment\ninclude " + d + "/*.conf\n/opt/first\n");
        Files.writeString(d.resolve("b.conf"), "/usr/local/cuda-13.0/targets/x86_64-linux/lib\n");
        Files.writeString(d.resolve("a.conf"), "/usr/lib/x86_64-linux-gnu # trailing comment\n\n");
        Files.writeString(d.resolve("ignored.txt"), "/nope\n");
        assertEquals(List.of(Path.of("/usr/lib/x86_64-linux-gnu"), Path.of("/usr/local/cuda-13.0/targets/x86_64-linux/lib"),
                Path.of("/opt/first")), CudaLibraries.ldSoConfFolders(conf, 0));
    }

    @Test
    void notFoundMessageSaysHowToPointAtTheLibrary() {
        CudaLibraries libs = CudaLibraries.search(List.of(tmp));
        String m = libs.notFoundMessage(CudaLibraries.Library.CUBLASLT);
        assertTrue(m.contains("libcublasLt.so.13 / libcublasLt.so.12 (cuBLASLt) not found in 1 places searched"), m);
        assertTrue(m.contains(tmp.toString()) && m.contains("-Dpd.cuda.libs=DIR") && m.contains("PD_CUDA_LIBS=DIR"), m);
    }
}
