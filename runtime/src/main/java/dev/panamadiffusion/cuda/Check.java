package dev.panamadiffusion.cuda;

import dev.panamadiffusion.backend.OutOfDeviceMemoryException;
import dev.panamadiffusion.bindings.cublaslt.cublasLt_h;
import dev.panamadiffusion.bindings.cuda.cuda_h;
import dev.panamadiffusion.bindings.cudnn.cudnn_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Turns status codes of the CUDA driver, cuBLASLt and cuDNN into {@link CudaException}s naming call and status;
 * the driver's CUDA_ERROR_OUT_OF_MEMORY into an {@link OutOfDeviceMemoryException}, which callers above the backend
 * handle apart (a request too large for the device, not a fault).
 */
final class Check {
    private Check() {}

    /** Throws unless {@code status} is CUDA_SUCCESS. */
    static void cu(int status, String call) {
        if (status == cuda_h.CUDA_ERROR_OUT_OF_MEMORY()) {
            throw new OutOfDeviceMemoryException(call + ": CUDA_ERROR_OUT_OF_MEMORY (" + status + ") "
                    + withEmulatorDetail(cuErrorString(status)), -1, -1, -1);
        }
        if (status != cuda_h.CUDA_SUCCESS()) {
            throw new CudaException(call, status, cuErrorName(status), withEmulatorDetail(cuErrorString(status)));
        }
    }

    /** Throws unless {@code status} is CUBLAS_STATUS_SUCCESS. */
    static void cublas(int status, String call) {
        if (status != cublasLt_h.CUBLAS_STATUS_SUCCESS()) {
            throw new CudaException(call, status, cString(cublasLt_h.cublasLtGetStatusName(status)),
                    withEmulatorDetail(cString(cublasLt_h.cublasLtGetStatusString(status))));
        }
    }

    /** Throws unless {@code status} is CUDNN_STATUS_SUCCESS. */
    static void cudnn(int status, String call) {
        if (status != cudnn_h.CUDNN_STATUS_SUCCESS()) {
            throw new CudaException(call, status, cString(cudnn_h.cudnnGetErrorString(status)), withEmulatorDetail(""));
        }
    }

    /** {@code text} followed by the CUDA emulator's detail of the failure, when running on the emulator. */
    private static String withEmulatorDetail(String text) {
        String detail = EmulatorDiagnostics.lastErrorDetail();
        if (detail.isEmpty()) return text;
        return (text.isEmpty() ? "" : text + " ") + "[emulator: " + detail + "]";
    }

    static String cuErrorName(int status) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            if (cuda_h.cuGetErrorName(status, p) != cuda_h.CUDA_SUCCESS()) return "CUresult " + status;
            return cString(p.get(ValueLayout.ADDRESS, 0));
        }
    }

    private static String cuErrorString(int status) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            if (cuda_h.cuGetErrorString(status, p) != cuda_h.CUDA_SUCCESS()) return "";
            return cString(p.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** A NUL-terminated C string returned by a library (never freed: static storage). */
    @SuppressWarnings("restricted") // device/driver addresses: sizes come from the driver
    static String cString(MemorySegment p) {
        return p.equals(MemorySegment.NULL) ? "" : p.reinterpret(4096).getString(0);
    }
}
