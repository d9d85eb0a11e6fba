package dev.panamadiffusion.cuda;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * The CUDA emulator's own diagnostics, which NVIDIA's libraries do not have: {@code pdemuLastErrorDetail()}, one line
 * saying what the last failed call found (the kernel, block, thread, instruction and address of a fault; the bad
 * argument of a refused call). Appended to {@link CudaException} messages when the backend runs on the emulator.
 * This is the emulator's only entry point outside the NVIDIA APIs, so it is bound by hand rather than by jextract.
 */
final class EmulatorDiagnostics {
    private static final MethodHandle LAST_ERROR_DETAIL = find();

    private EmulatorDiagnostics() {}

    private static MethodHandle find() {
        Optional<MemorySegment> sym = SymbolLookup.loaderLookup().find("pdemuLastErrorDetail");
        return sym.map(s -> Linker.nativeLinker().downcallHandle(s, FunctionDescriptor.of(ValueLayout.ADDRESS)))
                .orElse(null);
    }

    /** The emulator's detail for the last failed call on this thread, or "" (also on a real GPU). */
    static String lastErrorDetail() {
        if (CudaProbe.boundDriver() != CudaDriver.EMULATOR || LAST_ERROR_DETAIL == null) return "";
        try {
            return Check.cString((MemorySegment) LAST_ERROR_DETAIL.invokeExact());
        } catch (Throwable t) {
            return "";
        }
    }
}
