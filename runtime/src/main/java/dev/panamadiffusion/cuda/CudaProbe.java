package dev.panamadiffusion.cuda;

import dev.panamadiffusion.bindings.cublaslt.cublasLt_h;
import dev.panamadiffusion.bindings.cuda.cuda_h;
import dev.panamadiffusion.bindings.cudnn.cudnn_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds out, once per JVM and only when first asked, whether the CUDA backend can run: locates and loads the driver,
 * cuBLASLt and cuDNN ({@link CudaLibraries}), initialises the driver, checks device 0 (compute capability 8.0 or
 * newer, as the kernels are built for sm_80+) and the kernel fatbin. Never throws: an absent or unusable CUDA
 * becomes one {@link CudaStatus#message()}. Nothing here touches the CPU backend, which keeps working either way.
 */
public final class CudaProbe {
    private static CudaStatus cached;
    private static CudaDriver cachedDriver;

    private CudaProbe() {}

    /**
     * The status for the driver {@link CudaDriver#setting()} names (the first call probes; later calls return the same
     * result). With {@code auto}, NVIDIA's driver when it is found, else the emulator.
     */
    public static synchronized CudaStatus probe() {
        if (cached != null) return cached;
        String setting;
        try {
            setting = CudaDriver.setting();
        } catch (IllegalArgumentException e) {
            return CudaStatus.unavailable(e.getMessage());
        }
        CudaDriver driver = switch (setting) {
            case "emulator" -> CudaDriver.EMULATOR;
            case "auto" -> CudaLibraries.locate().path(CudaLibraries.Library.DRIVER).isPresent()
                    ? CudaDriver.REAL : CudaDriver.EMULATOR;
            default -> CudaDriver.REAL;
        };
        return probe(driver);
    }

    /**
     * The status for {@code driver} (probed on the first call, then cached). One JVM binds to one driver: asking for
     * the other one after a probe answers "unavailable" with the reason.
     */
    public static synchronized CudaStatus probe(CudaDriver driver) {
        if (cached != null) {
            if (cachedDriver == driver) return cached;
            return CudaStatus.unavailable("this JVM already bound the CUDA backend to the " + name(cachedDriver)
                    + "; the " + name(driver) + " needs a new process (one set of CUDA symbols per JVM)");
        }
        CudaStatus s;
        if (driver == CudaDriver.EMULATOR) {
            try {
                s = probe(CudaLibraries.emulated(CudaDriver.emulatorLibrary()));
            } catch (CudaException e) {
                s = CudaStatus.unavailable(e.getMessage());
            }
        } else {
            s = probe(CudaLibraries.locate());
        }
        cachedDriver = driver;
        cached = s;
        return s;
    }

    /** The driver the CUDA backend is bound to in this JVM, or null before the first probe. */
    public static synchronized CudaDriver boundDriver() { return cachedDriver; }

    private static String name(CudaDriver d) { return d == CudaDriver.EMULATOR ? "CUDA emulator" : "NVIDIA driver"; }

    /** Probes with the given libraries (not cached: for tests and diagnostics). */
    static CudaStatus probe(CudaLibraries libs) {
        try {
            return probeUnchecked(libs);
        } catch (RuntimeException | LinkageError e) {
            return CudaStatus.unavailable(e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    private static CudaStatus probeUnchecked(CudaLibraries libs) {
        Path driver = libs.path(CudaLibraries.Library.DRIVER).orElse(null);
        if (driver == null) return CudaStatus.unavailable(libs.notFoundMessage(CudaLibraries.Library.DRIVER));
        String err = load(driver);
        if (err != null) return CudaStatus.unavailable(err);

        int rc = cuda_h.cuInit(0);
        if (rc != cuda_h.CUDA_SUCCESS()) {
            return CudaStatus.unavailable("cuInit failed with " + Check.cuErrorName(rc) + " (" + rc + ") using " + driver);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment i = a.allocate(ValueLayout.JAVA_INT);
            Check.cu(cuda_h.cuDriverGetVersion(i), "cuDriverGetVersion");
            int driverVersion = i.get(ValueLayout.JAVA_INT, 0);
            Check.cu(cuda_h.cuDeviceGetCount(i), "cuDeviceGetCount");
            if (i.get(ValueLayout.JAVA_INT, 0) == 0) return CudaStatus.unavailable("the driver reports no CUDA device");
            Check.cu(cuda_h.cuDeviceGet(i, 0), "cuDeviceGet");
            int dev = i.get(ValueLayout.JAVA_INT, 0);
            MemorySegment name = a.allocate(256);
            Check.cu(cuda_h.cuDeviceGetName(name, 256, dev), "cuDeviceGetName");
            String deviceName = name.getString(0);
            Check.cu(cuda_h.cuDeviceGetAttribute(i, cuda_h.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR(), dev), "cuDeviceGetAttribute");
            int major = i.get(ValueLayout.JAVA_INT, 0);
            Check.cu(cuda_h.cuDeviceGetAttribute(i, cuda_h.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR(), dev), "cuDeviceGetAttribute");
            int minor = i.get(ValueLayout.JAVA_INT, 0);
            MemorySegment bytes = a.allocate(ValueLayout.JAVA_LONG);
            Check.cu(cuda_h.cuDeviceTotalMem_v2(bytes, dev), "cuDeviceTotalMem_v2");
            long memory = bytes.get(ValueLayout.JAVA_LONG, 0);
            String device = deviceName + " (sm_" + major + minor + ", " + (memory >> 20) + " MiB)";
            if (major < 8) {
                return new CudaStatus(false, "CUDA unavailable: " + device + " is older than compute capability 8.0,"
                        + " the oldest the kernels are built for", deviceName, major, minor, memory, driverVersion);
            }

            Path lt = libs.path(CudaLibraries.Library.CUBLASLT).orElse(null);
            if (lt == null) return unusable(libs.notFoundMessage(CudaLibraries.Library.CUBLASLT), deviceName, major, minor, memory, driverVersion);
            err = load(lt);
            if (err != null) return unusable(err, deviceName, major, minor, memory, driverVersion);
            Path dnn = libs.path(CudaLibraries.Library.CUDNN).orElse(null);
            if (dnn == null) return unusable(libs.notFoundMessage(CudaLibraries.Library.CUDNN), deviceName, major, minor, memory, driverVersion);
            for (String part : CudaLibraries.CUDNN_PARTS) {
                Path p = dnn.resolveSibling(part);
                if (Files.isRegularFile(p)) load(p); // best effort: cuDNN reports a missing engine itself
            }
            err = load(dnn);
            if (err != null) return unusable(err, deviceName, major, minor, memory, driverVersion);
            if (!CudaModule.hasKernelImage()) {
                return unusable("the kernels jar has no " + CudaModule.FATBIN_RESOURCE
                        + " (it was built without nvcc: see kernels/build-kernels.sh)", deviceName, major, minor, memory, driverVersion);
            }
            long ltVersion = cublasLt_h.cublasLtGetVersion();
            long dnnVersion = cudnn_h.cudnnGetVersion();
            String message = "CUDA: " + device + ", driver " + driverVersion / 1000 + "." + driverVersion % 1000 / 10
                    + ", cuBLASLt " + ltVersion + " (" + lt + "), cuDNN " + dnnVersion + " (" + dnn + ")";
            return new CudaStatus(true, message, deviceName, major, minor, memory, driverVersion);
        }
    }

    private static CudaStatus unusable(String why, String deviceName, int major, int minor, long memory, int driver) {
        return new CudaStatus(false, "CUDA unavailable: " + why, deviceName, major, minor, memory, driver);
    }

    /** System.load, returning an error message instead of throwing. */
    private static String load(Path library) {
        try {
            System.load(library.toString());
            return null;
        } catch (UnsatisfiedLinkError | SecurityException e) {
            return "could not load " + library + ": " + e.getMessage();
        }
    }
}
