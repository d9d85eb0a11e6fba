package dev.panamadiffusion.cuda;

/**
 * What {@link CudaProbe} found: whether the CUDA backend can start here, and one message saying why not (or which
 * device and libraries it found).
 *
 * @param available     true when the driver, a device of compute capability 8.0+, cuBLASLt, cuDNN and the kernel
 *                      fatbin were all found and loaded
 * @param message       one line: the reason it is unavailable, or a description of the device and libraries
 * @param deviceName    device 0's name, or "" when no device was reached
 * @param computeMajor  compute capability of device 0 (0 when unknown)
 * @param computeMinor  compute capability minor version
 * @param totalMemory   device 0's memory in bytes (0 when unknown)
 * @param driverVersion CUDA version the driver supports, e.g. 13000 (0 when unknown)
 */
public record CudaStatus(boolean available, String message, String deviceName, int computeMajor, int computeMinor,
                         long totalMemory, int driverVersion) {

    static CudaStatus unavailable(String message) {
        return new CudaStatus(false, "CUDA unavailable: " + message, "", 0, 0, 0, 0);
    }
}
