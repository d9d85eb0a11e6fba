package dev.panamadiffusion.cuda;

/**
 * A failed CUDA driver, cuBLASLt or cuDNN call, or a CUDA resource this runtime could not get: names the call and
 * the library's own name for the status ({@code cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2) out of memory}).
 */
public final class CudaException extends RuntimeException {
    private final String call;
    private final int code;
    private final String errorName;

    public CudaException(String call, int code, String errorName, String detail) {
        super(call + ": " + errorName + " (" + code + ")" + (detail == null || detail.isEmpty() ? "" : " " + detail));
        this.call = call;
        this.code = code;
        this.errorName = errorName;
    }

    /** A failure that is not a library status (missing library, missing kernel image, exhausted arena). */
    public CudaException(String message) {
        super(message);
        this.call = "";
        this.code = -1;
        this.errorName = "";
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
        this.call = "";
        this.code = -1;
        this.errorName = "";
    }

    /** The failed function, e.g. {@code cuLaunchKernel}; empty when not a library status. */
    public String call() { return call; }

    /** The status code the call returned (CUresult, cublasStatus_t, cudnnStatus_t); -1 when not a library status. */
    public int code() { return code; }

    /** The library's name for the status, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}. */
    public String errorName() { return errorName; }
}
