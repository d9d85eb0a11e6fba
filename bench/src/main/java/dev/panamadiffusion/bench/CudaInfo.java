package dev.panamadiffusion.bench;

import dev.panamadiffusion.cuda.CudaLibraries;
import dev.panamadiffusion.cuda.CudaModule;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;

/**
 * Prints what the CUDA backend finds on this machine: the probe's verdict, where each library was found (or the
 * places searched), whether the kernels fatbin is on the class path. Exit code 0 when the backend can start, 3 when not.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar dev.panamadiffusion.bench.CudaInfo
 * </pre>
 */
public final class CudaInfo {
    private CudaInfo() {}

    public static void main(String[] args) {
        CudaLibraries libs = CudaLibraries.locate();
        for (CudaLibraries.Library lib : CudaLibraries.Library.values()) {
            System.out.println(lib.description() + ": " + libs.path(lib).map(Object::toString).orElse(libs.notFoundMessage(lib)));
        }
        System.out.println("kernels fatbin on the class path: " + CudaModule.hasKernelImage());
        CudaStatus s = CudaProbe.probe();
        System.out.println(s.message());
        System.exit(s.available() ? 0 : 3);
    }
}
