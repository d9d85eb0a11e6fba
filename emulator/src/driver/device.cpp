// Initialisation, the driver version and the one emulated device: an H200 (sm_90) as the driver describes it.
#include "driver/memory.h"
#include "driver/state.h"

#include <algorithm>
#include <cstring>

using namespace pdemu;
using namespace pdemu::drv;

namespace {

constexpr const char* kDeviceName = "NVIDIA H200 (pdemu CPU emulator)";
constexpr int kDriverVersion = 13000;

CUresult check_device(CUdevice dev, const char* api) {
    if (dev != 0) return fail(cu::ERROR_INVALID_DEVICE, std::string(api) + ": device " + std::to_string(dev) +
                                                            " does not exist (the emulator has one device, 0)");
    return cu::SUCCESS;
}

/** The attribute's value, or false when the emulator does not know the attribute. */
bool attribute(int attrib, int* value) {
    switch (attrib) {
        case cu::ATTR_MAX_THREADS_PER_BLOCK: *value = 1024; return true;
        case cu::ATTR_MAX_BLOCK_DIM_X: *value = 1024; return true;
        case cu::ATTR_MAX_BLOCK_DIM_Y: *value = 1024; return true;
        case cu::ATTR_MAX_BLOCK_DIM_Z: *value = 64; return true;
        case cu::ATTR_MAX_GRID_DIM_X: *value = 2147483647; return true;
        case cu::ATTR_MAX_GRID_DIM_Y: *value = 65535; return true;
        case cu::ATTR_MAX_GRID_DIM_Z: *value = 65535; return true;
        case cu::ATTR_MAX_SHARED_MEMORY_PER_BLOCK: *value = 48 * 1024; return true;
        case cu::ATTR_TOTAL_CONSTANT_MEMORY: *value = 64 * 1024; return true;
        case cu::ATTR_WARP_SIZE: *value = 32; return true;
        case cu::ATTR_MAX_PITCH: *value = 2147483647; return true;
        case cu::ATTR_MAX_REGISTERS_PER_BLOCK: *value = 65536; return true;
        case cu::ATTR_CLOCK_RATE: *value = 1980000; return true;  // kHz
        case cu::ATTR_TEXTURE_ALIGNMENT: *value = 512; return true;
        case cu::ATTR_GPU_OVERLAP: *value = 1; return true;
        case cu::ATTR_MULTIPROCESSOR_COUNT: *value = 132; return true;
        case cu::ATTR_KERNEL_EXEC_TIMEOUT: *value = 0; return true;
        case cu::ATTR_INTEGRATED: *value = 0; return true;
        case cu::ATTR_CAN_MAP_HOST_MEMORY: *value = 1; return true;
        case cu::ATTR_COMPUTE_MODE: *value = 0; return true;
        case cu::ATTR_CONCURRENT_KERNELS: *value = 1; return true;
        case cu::ATTR_ECC_ENABLED: *value = 1; return true;
        case cu::ATTR_PCI_BUS_ID: *value = 0; return true;
        case cu::ATTR_PCI_DEVICE_ID: *value = 0; return true;
        case cu::ATTR_PCI_DOMAIN_ID: *value = 0; return true;
        case cu::ATTR_TCC_DRIVER: *value = 0; return true;
        case cu::ATTR_MEMORY_CLOCK_RATE: *value = 2619000; return true;  // kHz
        case cu::ATTR_GLOBAL_MEMORY_BUS_WIDTH: *value = 6144; return true;
        case cu::ATTR_L2_CACHE_SIZE: *value = 50 * 1024 * 1024; return true;
        case cu::ATTR_MAX_THREADS_PER_MULTIPROCESSOR: *value = 2048; return true;
        case cu::ATTR_ASYNC_ENGINE_COUNT: *value = 2; return true;
        case cu::ATTR_UNIFIED_ADDRESSING: *value = 1; return true;
        case cu::ATTR_COMPUTE_CAPABILITY_MAJOR: *value = 9; return true;
        case cu::ATTR_COMPUTE_CAPABILITY_MINOR: *value = 0; return true;
        case cu::ATTR_GLOBAL_L1_CACHE_SUPPORTED: *value = 1; return true;
        case cu::ATTR_LOCAL_L1_CACHE_SUPPORTED: *value = 1; return true;
        case cu::ATTR_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR: *value = 228 * 1024; return true;
        case cu::ATTR_MAX_REGISTERS_PER_MULTIPROCESSOR: *value = 65536; return true;
        case cu::ATTR_MANAGED_MEMORY: *value = 1; return true;
        case cu::ATTR_MULTI_GPU_BOARD: *value = 0; return true;
        case cu::ATTR_CONCURRENT_MANAGED_ACCESS: *value = 1; return true;
        case cu::ATTR_COMPUTE_PREEMPTION_SUPPORTED: *value = 1; return true;
        case cu::ATTR_COOPERATIVE_LAUNCH: *value = 1; return true;
        case cu::ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *value = 232448; return true;  // 227 KiB
        case cu::ATTR_MAX_BLOCKS_PER_MULTIPROCESSOR: *value = 32; return true;
        case cu::ATTR_MEMORY_POOLS_SUPPORTED: *value = 0; return true;  // no cuMemAllocAsync in the emulator
        default: return false;
    }
}

}  // namespace

PDEMU_API CUresult cuInit(unsigned int Flags) {
    std::lock_guard lock(api_mutex());
    if (Flags != 0) return fail(cu::ERROR_INVALID_VALUE, "cuInit: Flags must be 0");
    initialized() = true;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuDriverGetVersion(int* driverVersion) {
    if (!driverVersion) return fail(cu::ERROR_INVALID_VALUE, "cuDriverGetVersion: driverVersion is NULL");
    *driverVersion = kDriverVersion;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuDeviceGetCount(int* count) {
    std::lock_guard lock(api_mutex());
    if (!count) return fail(cu::ERROR_INVALID_VALUE, "cuDeviceGetCount: count is NULL");
    if (CUresult r = require_init("cuDeviceGetCount")) return r;
    *count = 1;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuDeviceGet(CUdevice* device, int ordinal) {
    std::lock_guard lock(api_mutex());
    if (!device) return fail(cu::ERROR_INVALID_VALUE, "cuDeviceGet: device is NULL");
    if (CUresult r = require_init("cuDeviceGet")) return r;
    if (CUresult r = check_device(ordinal, "cuDeviceGet")) return r;
    *device = 0;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
    std::lock_guard lock(api_mutex());
    if (!name || len <= 0) return fail(cu::ERROR_INVALID_VALUE, "cuDeviceGetName: name is NULL or len <= 0");
    if (CUresult r = require_init("cuDeviceGetName")) return r;
    if (CUresult r = check_device(dev, "cuDeviceGetName")) return r;
    size_t n = std::min<size_t>(std::strlen(kDeviceName), static_cast<size_t>(len) - 1);
    std::memcpy(name, kDeviceName, n);
    name[n] = '\0';
    return cu::SUCCESS;
}

PDEMU_API CUresult cuDeviceGetAttribute(int* pi, CUdevice_attribute attrib, CUdevice dev) {
    std::lock_guard lock(api_mutex());
    if (!pi) return fail(cu::ERROR_INVALID_VALUE, "cuDeviceGetAttribute: pi is NULL");
    if (CUresult r = require_init("cuDeviceGetAttribute")) return r;
    if (CUresult r = check_device(dev, "cuDeviceGetAttribute")) return r;
    if (!attribute(attrib, pi))
        return fail(cu::ERROR_INVALID_VALUE,
                    "cuDeviceGetAttribute: attribute " + std::to_string(attrib) + " is not known to the emulator");
    return cu::SUCCESS;
}

PDEMU_API CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
    std::lock_guard lock(api_mutex());
    if (!bytes) return fail(cu::ERROR_INVALID_VALUE, "cuDeviceTotalMem_v2: bytes is NULL");
    if (CUresult r = require_init("cuDeviceTotalMem_v2")) return r;
    if (CUresult r = check_device(dev, "cuDeviceTotalMem_v2")) return r;
    *bytes = device_total_memory();
    return cu::SUCCESS;
}
