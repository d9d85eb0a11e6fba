// Our own declarations of the CUDA driver API types and constants the emulator implements. Values are those of the
// CUDA driver API documentation (and of the jextract bindings in bindings/), written out here: no NVIDIA header is
// included or copied.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st* CUcontext;
typedef struct CUstream_st* CUstream;
typedef struct CUevent_st* CUevent;
typedef struct CUmod_st* CUmodule;
typedef struct CUfunc_st* CUfunction;
typedef struct CUgraph_st* CUgraph;
typedef struct CUgraphExec_st* CUgraphExec;
typedef int CUstreamCaptureMode;
typedef int CUdevice_attribute;
typedef int CUfunction_attribute;

}  // extern "C"

namespace pdemu::cu {

enum : CUresult {
    SUCCESS = 0,
    ERROR_INVALID_VALUE = 1,
    ERROR_OUT_OF_MEMORY = 2,
    ERROR_NOT_INITIALIZED = 3,
    ERROR_DEINITIALIZED = 4,
    ERROR_NO_DEVICE = 100,
    ERROR_INVALID_DEVICE = 101,
    ERROR_INVALID_IMAGE = 200,
    ERROR_INVALID_CONTEXT = 201,
    ERROR_NO_BINARY_FOR_GPU = 209,
    ERROR_INVALID_PTX = 218,
    ERROR_INVALID_HANDLE = 400,
    ERROR_ILLEGAL_STATE = 401,
    ERROR_NOT_FOUND = 500,
    ERROR_NOT_READY = 600,
    ERROR_ILLEGAL_ADDRESS = 700,
    ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
    ERROR_CONTEXT_IS_DESTROYED = 709,
    ERROR_ILLEGAL_INSTRUCTION = 715,
    ERROR_MISALIGNED_ADDRESS = 716,
    ERROR_LAUNCH_FAILED = 719,
    ERROR_NOT_SUPPORTED = 801,
    ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
    ERROR_STREAM_CAPTURE_INVALIDATED = 901,
    ERROR_STREAM_CAPTURE_MERGE = 902,
    ERROR_STREAM_CAPTURE_UNMATCHED = 903,
    ERROR_STREAM_CAPTURE_UNJOINED = 904,
    ERROR_STREAM_CAPTURE_ISOLATION = 905,
    ERROR_STREAM_CAPTURE_IMPLICIT = 906,
    ERROR_CAPTURED_EVENT = 907,
    ERROR_STREAM_CAPTURE_WRONG_THREAD = 908,
    ERROR_UNKNOWN = 999,
};

// CUdevice_attribute values (driver API documentation).
enum : int {
    ATTR_MAX_THREADS_PER_BLOCK = 1,
    ATTR_MAX_BLOCK_DIM_X = 2,
    ATTR_MAX_BLOCK_DIM_Y = 3,
    ATTR_MAX_BLOCK_DIM_Z = 4,
    ATTR_MAX_GRID_DIM_X = 5,
    ATTR_MAX_GRID_DIM_Y = 6,
    ATTR_MAX_GRID_DIM_Z = 7,
    ATTR_MAX_SHARED_MEMORY_PER_BLOCK = 8,
    ATTR_TOTAL_CONSTANT_MEMORY = 9,
    ATTR_WARP_SIZE = 10,
    ATTR_MAX_PITCH = 11,
    ATTR_MAX_REGISTERS_PER_BLOCK = 12,
    ATTR_CLOCK_RATE = 13,
    ATTR_TEXTURE_ALIGNMENT = 14,
    ATTR_GPU_OVERLAP = 15,
    ATTR_MULTIPROCESSOR_COUNT = 16,
    ATTR_KERNEL_EXEC_TIMEOUT = 17,
    ATTR_INTEGRATED = 18,
    ATTR_CAN_MAP_HOST_MEMORY = 19,
    ATTR_COMPUTE_MODE = 20,
    ATTR_CONCURRENT_KERNELS = 31,
    ATTR_ECC_ENABLED = 32,
    ATTR_PCI_BUS_ID = 33,
    ATTR_PCI_DEVICE_ID = 34,
    ATTR_TCC_DRIVER = 35,
    ATTR_MEMORY_CLOCK_RATE = 36,
    ATTR_GLOBAL_MEMORY_BUS_WIDTH = 37,
    ATTR_L2_CACHE_SIZE = 38,
    ATTR_MAX_THREADS_PER_MULTIPROCESSOR = 39,
    ATTR_ASYNC_ENGINE_COUNT = 40,
    ATTR_UNIFIED_ADDRESSING = 41,
    ATTR_PCI_DOMAIN_ID = 50,
    ATTR_COMPUTE_CAPABILITY_MAJOR = 75,
    ATTR_COMPUTE_CAPABILITY_MINOR = 76,
    ATTR_GLOBAL_L1_CACHE_SUPPORTED = 79,
    ATTR_LOCAL_L1_CACHE_SUPPORTED = 80,
    ATTR_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81,
    ATTR_MAX_REGISTERS_PER_MULTIPROCESSOR = 82,
    ATTR_MANAGED_MEMORY = 83,
    ATTR_MULTI_GPU_BOARD = 84,
    ATTR_CONCURRENT_MANAGED_ACCESS = 89,
    ATTR_COMPUTE_PREEMPTION_SUPPORTED = 90,
    ATTR_COOPERATIVE_LAUNCH = 95,
    ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
    ATTR_MAX_BLOCKS_PER_MULTIPROCESSOR = 106,
    ATTR_MEMORY_POOLS_SUPPORTED = 115,
};

// CUfunction_attribute values.
enum : int {
    FUNC_MAX_THREADS_PER_BLOCK = 0,
    FUNC_SHARED_SIZE_BYTES = 1,
    FUNC_CONST_SIZE_BYTES = 2,
    FUNC_LOCAL_SIZE_BYTES = 3,
    FUNC_NUM_REGS = 4,
    FUNC_PTX_VERSION = 5,
    FUNC_BINARY_VERSION = 6,
    FUNC_CACHE_MODE_CA = 7,
    FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
    FUNC_PREFERRED_SHARED_MEMORY_CARVEOUT = 9,
};

enum : unsigned {
    MEMHOSTALLOC_PORTABLE = 0x01,
    MEMHOSTALLOC_DEVICEMAP = 0x02,
    MEMHOSTALLOC_WRITECOMBINED = 0x04,
    STREAM_DEFAULT = 0x0,
    STREAM_NON_BLOCKING = 0x1,
    EVENT_DEFAULT = 0x0,
    EVENT_BLOCKING_SYNC = 0x1,
    EVENT_DISABLE_TIMING = 0x2,
    EVENT_INTERPROCESS = 0x4,
    EVENT_WAIT_DEFAULT = 0x0,
    EVENT_WAIT_EXTERNAL = 0x1,
};

enum : int {
    CAPTURE_MODE_GLOBAL = 0,
    CAPTURE_MODE_THREAD_LOCAL = 1,
    CAPTURE_MODE_RELAXED = 2,
};

// Graph instantiation flags.
enum : unsigned long long {
    GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH = 1,
    GRAPH_INSTANTIATE_FLAG_UPLOAD = 2,
    GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH = 4,
    GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY = 8,
};

// Special stream handles (CU_STREAM_LEGACY, CU_STREAM_PER_THREAD) and cuLaunchKernel's `extra` keys.
inline CUstream const STREAM_LEGACY = reinterpret_cast<CUstream>(0x1);
inline CUstream const STREAM_PER_THREAD = reinterpret_cast<CUstream>(0x2);
inline void* const LAUNCH_PARAM_END = reinterpret_cast<void*>(0x00);
inline void* const LAUNCH_PARAM_BUFFER_POINTER = reinterpret_cast<void*>(0x01);
inline void* const LAUNCH_PARAM_BUFFER_SIZE = reinterpret_cast<void*>(0x02);

}  // namespace pdemu::cu

#define PDEMU_API extern "C" __attribute__((visibility("default")))
