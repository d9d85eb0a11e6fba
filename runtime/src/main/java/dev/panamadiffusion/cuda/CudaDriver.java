package dev.panamadiffusion.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Which implementation of the CUDA libraries the CUDA backend binds to: NVIDIA's ({@link #REAL}: libcuda.so.1,
 * cuBLASLt, cuDNN, found by {@link CudaLibraries}) or this project's emulator ({@link #EMULATOR}: one library,
 * libpdemu.so, that exports the same symbols and runs our kernels' PTX on the CPU; see emulator/docs). The Java code
 * above the bindings is the same for both: only library resolution differs.
 *
 * <p>One JVM binds to one of them, since the bindings resolve symbols among the libraries it has loaded. The choice
 * comes from the system property {@value #PROPERTY} (or environment variable {@value #ENV}): {@code real} (the
 * default), {@code emulator}, or {@code auto} (NVIDIA's when its driver is found, else the emulator; what the test
 * suite uses, so that GPU tests run on a real GPU where there is one and on the emulator everywhere else).
 */
public enum CudaDriver {
    REAL, EMULATOR;

    public static final String PROPERTY = "pd.cuda.driver";
    public static final String ENV = "PD_CUDA_DRIVER";
    /** System property: the emulator library's path (else the copy inside the emulator jar is used). */
    public static final String EMULATOR_LIBRARY_PROPERTY = "pd.cuda.emulator";
    /** Class-path resource holding the emulator library (emulator module). */
    public static final String EMULATOR_RESOURCE = "/dev/panamadiffusion/emulator/libpdemu.so";

    /** The setting: "real", "emulator" or "auto" (lower case), from the property, the environment, else "real". */
    public static String setting() {
        String s = System.getProperty(PROPERTY);
        if (s == null || s.isBlank()) s = System.getenv(ENV);
        if (s == null || s.isBlank()) return "real";
        s = s.trim().toLowerCase(Locale.ROOT);
        if (!s.equals("real") && !s.equals("emulator") && !s.equals("auto")) {
            throw new IllegalArgumentException(PROPERTY + "=" + s + " is not one of real, emulator, auto");
        }
        return s;
    }

    /**
     * The emulator library as a file: the {@value #EMULATOR_LIBRARY_PROPERTY} property's path, else the class-path
     * resource (used in place when it is a file, otherwise copied to a temporary file deleted on exit).
     */
    public static Path emulatorLibrary() {
        String p = System.getProperty(EMULATOR_LIBRARY_PROPERTY);
        if (p != null && !p.isBlank()) {
            Path path = Path.of(p);
            if (!Files.isRegularFile(path)) throw new CudaException(EMULATOR_LIBRARY_PROPERTY + "=" + p + ": no such file");
            return path.toAbsolutePath();
        }
        URL url = CudaDriver.class.getResource(EMULATOR_RESOURCE);
        if (url == null) {
            throw new CudaException("the CUDA emulator library " + EMULATOR_RESOURCE + " is not on the class path"
                    + " (the emulator module was built with -Dpd.emulator.skip=true or without cmake/g++)");
        }
        try {
            if ("file".equals(url.getProtocol())) return Path.of(url.toURI());
            Path tmp = Files.createTempFile("libpdemu", ".so");
            tmp.toFile().deleteOnExit();
            try (InputStream in = url.openStream()) {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            }
            return tmp;
        } catch (IOException | URISyntaxException e) {
            throw new CudaException("cannot unpack the CUDA emulator library: " + e.getMessage(), e);
        }
    }
}
