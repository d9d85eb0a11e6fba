// The driver API's documented answers for initialisation, the device, the primary context, memory and its checks,
// streams and events. Each misuse is checked against the CUresult the driver API documentation gives.
#include "check.h"
#include "driver/api.h"
#include "driver_harness.h"

#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace pdemu;

namespace {
std::string detail() { return pdemuLastErrorDetail(); }
bool mentions(const std::string& text, const char* what) { return text.find(what) != std::string::npos; }

CUcontext open_context() { return pdemu_test::open_primary_context(); }
}  // namespace

TEST(calls_before_cuInit_are_not_initialized) {
    int n = -1;
    CUdeviceptr p = 0;
    CHECK_EQ(cuDeviceGetCount(&n), cu::ERROR_NOT_INITIALIZED);
    CHECK_EQ(cuMemAlloc_v2(&p, 16), cu::ERROR_NOT_INITIALIZED);
    CHECK_EQ(cuCtxSynchronize(), cu::ERROR_NOT_INITIALIZED);
    int v = 0;
    CHECK_EQ(cuDriverGetVersion(&v), cu::SUCCESS);  // documented to work before cuInit
    CHECK_EQ(v, 13000);
    CHECK_EQ(cuInit(1), cu::ERROR_INVALID_VALUE);    // Flags must be 0
}

TEST(device_describes_an_h200) {
    CHECK_EQ(cuInit(0), cu::SUCCESS);
    int n = 0;
    CHECK_EQ(cuDeviceGetCount(&n), cu::SUCCESS);
    CHECK_EQ(n, 1);
    CUdevice dev = -1;
    CHECK_EQ(cuDeviceGet(&dev, 0), cu::SUCCESS);
    CHECK_EQ(cuDeviceGet(&dev, 1), cu::ERROR_INVALID_DEVICE);
    CHECK_EQ(cuDeviceGet(nullptr, 0), cu::ERROR_INVALID_VALUE);
    char name[256];
    CHECK_EQ(cuDeviceGetName(name, sizeof name, 0), cu::SUCCESS);
    CHECK(mentions(name, "H200"));
    CHECK(mentions(name, "emulator"));
    char small[5];
    CHECK_EQ(cuDeviceGetName(small, sizeof small, 0), cu::SUCCESS);  // truncated, NUL-terminated
    CHECK_EQ(std::strlen(small), size_t(4));
    CHECK_EQ(cuDeviceGetName(name, 0, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuDeviceGetName(name, sizeof name, 3), cu::ERROR_INVALID_DEVICE);
    struct { int attr, value; } expected[] = {
        {cu::ATTR_COMPUTE_CAPABILITY_MAJOR, 9}, {cu::ATTR_COMPUTE_CAPABILITY_MINOR, 0},
        {cu::ATTR_MULTIPROCESSOR_COUNT, 132}, {cu::ATTR_MAX_SHARED_MEMORY_PER_BLOCK, 49152},
        {cu::ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, 232448}, {cu::ATTR_MAX_THREADS_PER_BLOCK, 1024},
        {cu::ATTR_MAX_BLOCK_DIM_X, 1024}, {cu::ATTR_MAX_BLOCK_DIM_Y, 1024}, {cu::ATTR_MAX_BLOCK_DIM_Z, 64},
        {cu::ATTR_MAX_GRID_DIM_X, 2147483647}, {cu::ATTR_MAX_GRID_DIM_Y, 65535}, {cu::ATTR_MAX_GRID_DIM_Z, 65535},
        {cu::ATTR_WARP_SIZE, 32}, {cu::ATTR_UNIFIED_ADDRESSING, 1},
    };
    for (auto& e : expected) {
        int v = -1;
        CHECK_EQ(cuDeviceGetAttribute(&v, e.attr, 0), cu::SUCCESS);
        CHECK_EQ(v, e.value);
    }
    int v = 0;
    CHECK_EQ(cuDeviceGetAttribute(&v, 100000, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuDeviceGetAttribute(nullptr, cu::ATTR_WARP_SIZE, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuDeviceGetAttribute(&v, cu::ATTR_WARP_SIZE, 1), cu::ERROR_INVALID_DEVICE);
    size_t total = 0;
    CHECK_EQ(cuDeviceTotalMem_v2(&total, 0), cu::SUCCESS);
    CHECK(total >= 141'000'000'000ull || std::getenv("PDEMU_MEMORY_LIMIT"));
}

TEST(error_names_and_strings) {
    const char* s = nullptr;
    CHECK_EQ(cuGetErrorName(cu::ERROR_ILLEGAL_ADDRESS, &s), cu::SUCCESS);
    CHECK_EQ(std::string(s), std::string("CUDA_ERROR_ILLEGAL_ADDRESS"));
    CHECK_EQ(cuGetErrorString(cu::ERROR_ILLEGAL_ADDRESS, &s), cu::SUCCESS);
    CHECK_EQ(std::string(s), std::string("an illegal memory access was encountered"));
    CHECK_EQ(cuGetErrorName(cu::ERROR_STREAM_CAPTURE_INVALIDATED, &s), cu::SUCCESS);
    CHECK_EQ(std::string(s), std::string("CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"));
    CHECK_EQ(cuGetErrorName(123456, &s), cu::ERROR_INVALID_VALUE);
    CHECK(s == nullptr);
    CHECK_EQ(cuGetErrorString(cu::SUCCESS, nullptr), cu::ERROR_INVALID_VALUE);
}

TEST(context_required_for_context_calls) {
    CHECK_EQ(cuCtxSetCurrent(nullptr), cu::SUCCESS);
    CUcontext cur = reinterpret_cast<CUcontext>(1);
    CHECK_EQ(cuCtxGetCurrent(&cur), cu::SUCCESS);
    CHECK(cur == nullptr);
    CUdeviceptr p = 0;
    CHECK_EQ(cuMemAlloc_v2(&p, 16), cu::ERROR_INVALID_CONTEXT);
    CHECK_EQ(cuCtxSynchronize(), cu::ERROR_INVALID_CONTEXT);
    CUstream s = nullptr;
    CHECK_EQ(cuStreamCreate(&s, 0), cu::ERROR_INVALID_CONTEXT);
    CHECK_EQ(cuCtxSetCurrent(reinterpret_cast<CUcontext>(0x1234)), cu::ERROR_INVALID_CONTEXT);
    CHECK_EQ(cuDevicePrimaryCtxRelease_v2(0), cu::ERROR_INVALID_CONTEXT);  // never retained
    CHECK_EQ(cuDevicePrimaryCtxRetain(nullptr, 0), cu::ERROR_INVALID_VALUE);
    CUcontext ctx = nullptr;
    CHECK_EQ(cuDevicePrimaryCtxRetain(&ctx, 2), cu::ERROR_INVALID_DEVICE);
}

TEST(context_is_current_per_thread_and_released_context_is_destroyed) {
    CUcontext ctx = open_context();
    CUcontext cur = nullptr;
    CHECK_EQ(cuCtxGetCurrent(&cur), cu::SUCCESS);
    CHECK(cur == ctx);
    std::thread([&] {  // another thread has no current context until it sets one
        CUcontext other = reinterpret_cast<CUcontext>(1);
        CHECK_EQ(cuCtxGetCurrent(&other), cu::SUCCESS);
        CHECK(other == nullptr);
        CHECK_EQ(cuCtxSynchronize(), cu::ERROR_INVALID_CONTEXT);
    }).join();
    CUdeviceptr p = 0;
    CHECK_EQ(cuMemAlloc_v2(&p, 64), cu::SUCCESS);
    CHECK_EQ(cuDevicePrimaryCtxRelease_v2(0), cu::SUCCESS);  // last release: the context is reset
    CHECK_EQ(cuCtxSynchronize(), cu::ERROR_CONTEXT_IS_DESTROYED);
    CUcontext again = nullptr;
    CHECK_EQ(cuDevicePrimaryCtxRetain(&again, 0), cu::SUCCESS);
    CHECK(again == ctx);                                       // the primary context keeps its handle
    CHECK_EQ(cuCtxSynchronize(), cu::SUCCESS);
    CHECK_EQ(cuMemFree_v2(p), cu::ERROR_INVALID_VALUE);       // freed with the old context's memory
}

TEST(allocation_rules) {
    open_context();
    CUdeviceptr p = 0;
    CHECK_EQ(cuMemAlloc_v2(&p, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuMemAlloc_v2(nullptr, 16), cu::ERROR_INVALID_VALUE);
    size_t free0 = 0, total = 0;
    CHECK_EQ(cuMemGetInfo_v2(&free0, &total), cu::SUCCESS);
    CHECK_EQ(cuMemAlloc_v2(&p, 1000), cu::SUCCESS);
    CHECK_EQ(p % 256, 0ull);
    size_t free1 = 0;
    CHECK_EQ(cuMemGetInfo_v2(&free1, &total), cu::SUCCESS);
    CHECK(free1 < free0);
    CHECK_EQ(cuMemAlloc_v2(&p, total + 1), cu::ERROR_OUT_OF_MEMORY);
    CHECK(mentions(detail(), "out of device memory"));
    CHECK_EQ(cuMemFree_v2(p), cu::SUCCESS);
    CHECK_EQ(cuMemFree_v2(p), cu::ERROR_INVALID_VALUE);  // double free
    CHECK_EQ(cuMemFree_v2(0), cu::ERROR_INVALID_VALUE);
    void* host = nullptr;
    CHECK_EQ(cuMemHostAlloc(&host, 64, 0x100), cu::ERROR_INVALID_VALUE);  // unknown flag
    CHECK_EQ(cuMemHostAlloc(&host, 64, cu::MEMHOSTALLOC_PORTABLE), cu::SUCCESS);
    CHECK_EQ(cuMemFree_v2(reinterpret_cast<CUdeviceptr>(host)), cu::ERROR_INVALID_VALUE);  // pinned, not device
    CHECK_EQ(cuMemFreeHost(host), cu::SUCCESS);
    CHECK_EQ(cuMemFreeHost(host), cu::ERROR_INVALID_VALUE);
}

TEST(copies_check_every_device_range) {
    open_context();
    CUdeviceptr d = 0, e = 0;
    CHECK_EQ(cuMemAlloc_v2(&d, 1024), cu::SUCCESS);
    CHECK_EQ(cuMemAlloc_v2(&e, 1024), cu::SUCCESS);
    std::vector<uint8_t> host(2048, 7), back(2048, 0);
    CHECK_EQ(cuMemcpyHtoD_v2(d, host.data(), 1024), cu::SUCCESS);
    CHECK_EQ(cuMemcpyDtoH_v2(back.data(), d, 1024), cu::SUCCESS);
    CHECK(std::memcmp(host.data(), back.data(), 1024) == 0);
    CHECK_EQ(cuMemcpyHtoD_v2(d, host.data(), 1032), cu::ERROR_INVALID_VALUE);  // 8 bytes past the end
    CHECK(mentions(detail(), "8 bytes past the end of the 1024-byte allocation"));
    CHECK_EQ(cuMemcpyDtoH_v2(back.data(), d + 1000, 100), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuMemcpyHtoD_v2(d - 16, host.data(), 16), cu::ERROR_INVALID_VALUE);  // before the start
    CHECK(mentions(detail(), "before"));
    uint8_t on_stack[16] = {};  // plain host memory, far from any allocation
    CHECK_EQ(cuMemcpyHtoD_v2(reinterpret_cast<CUdeviceptr>(on_stack), host.data(), 16), cu::ERROR_INVALID_VALUE);
    CHECK(mentions(detail(), "not device memory"));
    void* pinned = nullptr;
    CHECK_EQ(cuMemHostAlloc(&pinned, 256, 0), cu::SUCCESS);
    CHECK_EQ(cuMemsetD8Async(reinterpret_cast<CUdeviceptr>(pinned), 0, 16, nullptr), cu::ERROR_INVALID_VALUE);
    CHECK(mentions(detail(), "pinned host memory"));
    CHECK_EQ(cuMemcpyHtoDAsync_v2(d, pinned, 512, nullptr), cu::ERROR_INVALID_VALUE);  // past the pinned buffer
    CHECK_EQ(cuMemcpyHtoDAsync_v2(d, pinned, 256, nullptr), cu::SUCCESS);
    CHECK_EQ(cuMemcpyHtoDAsync_v2(d, host.data(), 64, nullptr), cu::SUCCESS);  // pageable memory is allowed
    CHECK_EQ(cuMemsetD8Async(e, 0xAB, 1024, nullptr), cu::SUCCESS);
    CHECK_EQ(cuMemcpyDtoDAsync_v2(d, e, 1024, nullptr), cu::SUCCESS);
    CHECK_EQ(cuMemcpyDtoH_v2(back.data(), d, 1024), cu::SUCCESS);
    CHECK_EQ(int(back[0]), 0xAB);
    CHECK_EQ(int(back[1023]), 0xAB);
    CHECK_EQ(cuMemcpyDtoDAsync_v2(d, e, 1025, nullptr), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuMemcpyHtoD_v2(d, host.data(), 0), cu::SUCCESS);  // nothing to copy
    CHECK_EQ(cuMemFree_v2(e), cu::SUCCESS);
    CHECK_EQ(cuMemcpyDtoH_v2(back.data(), e, 16), cu::ERROR_INVALID_VALUE);  // use after free
    CHECK(mentions(detail(), "freed"));
    CHECK_EQ(cuMemFreeHost(pinned), cu::SUCCESS);
    CHECK_EQ(cuMemFree_v2(d), cu::SUCCESS);
}

TEST(red_zone_damage_is_reported_at_free) {
    open_context();
    CUdeviceptr d = 0;
    CHECK_EQ(cuMemAlloc_v2(&d, 100), cu::SUCCESS);
    reinterpret_cast<uint8_t*>(d)[100] = 0;  // a host write one past the end, bypassing the driver
    CHECK_EQ(cuMemFree_v2(d), cu::SUCCESS);
    CHECK(mentions(detail(), "red zone"));
}

TEST(streams_and_handles) {
    open_context();
    CUstream s = nullptr;
    CHECK_EQ(cuStreamCreate(&s, 4), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuStreamCreate(nullptr, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuStreamCreate(&s, cu::STREAM_NON_BLOCKING), cu::SUCCESS);
    CHECK_EQ(cuStreamSynchronize(s), cu::SUCCESS);
    CHECK_EQ(cuStreamSynchronize(nullptr), cu::SUCCESS);  // the legacy stream
    CHECK_EQ(cuStreamDestroy_v2(s), cu::SUCCESS);
    CHECK_EQ(cuStreamSynchronize(s), cu::ERROR_INVALID_HANDLE);
    CHECK_EQ(cuStreamDestroy_v2(s), cu::ERROR_INVALID_HANDLE);
    CHECK_EQ(cuStreamDestroy_v2(nullptr), cu::ERROR_INVALID_HANDLE);
    CUdeviceptr d = 0;
    CHECK_EQ(cuMemAlloc_v2(&d, 16), cu::SUCCESS);
    CHECK_EQ(cuMemsetD8Async(d, 1, 16, s), cu::ERROR_INVALID_HANDLE);  // destroyed stream
    CHECK_EQ(cuMemFree_v2(d), cu::SUCCESS);
}

TEST(events_time_and_errors) {
    open_context();
    CUevent a = nullptr, b = nullptr, untimed = nullptr;
    CHECK_EQ(cuEventCreate(&a, 0x40), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuEventCreate(&a, cu::EVENT_INTERPROCESS), cu::ERROR_INVALID_VALUE);  // needs DISABLE_TIMING
    CHECK_EQ(cuEventCreate(&a, cu::EVENT_DEFAULT), cu::SUCCESS);
    CHECK_EQ(cuEventCreate(&b, cu::EVENT_DEFAULT), cu::SUCCESS);
    CHECK_EQ(cuEventCreate(&untimed, cu::EVENT_DISABLE_TIMING), cu::SUCCESS);
    float ms = -1;
    CHECK_EQ(cuEventElapsedTime_v2(&ms, a, b), cu::ERROR_INVALID_HANDLE);  // never recorded
    CHECK_EQ(cuEventSynchronize(a), cu::SUCCESS);                          // never recorded: returns at once
    CUstream s = nullptr;
    CHECK_EQ(cuStreamCreate(&s, cu::STREAM_NON_BLOCKING), cu::SUCCESS);
    CHECK_EQ(cuEventRecord(a, s), cu::SUCCESS);
    CHECK_EQ(cuEventElapsedTime_v2(&ms, a, b), cu::ERROR_INVALID_HANDLE);  // end not recorded
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK_EQ(cuEventRecord(b, s), cu::SUCCESS);
    CHECK_EQ(cuEventSynchronize(b), cu::SUCCESS);
    CHECK_EQ(cuEventElapsedTime_v2(&ms, a, b), cu::SUCCESS);
    CHECK(ms >= 19.0f && ms < 2000.0f);
    CHECK_EQ(cuEventElapsedTime_v2(&ms, b, a), cu::SUCCESS);
    CHECK(ms <= -19.0f);
    CHECK_EQ(cuEventElapsedTime_v2(nullptr, a, b), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuEventRecord(untimed, s), cu::SUCCESS);
    CHECK_EQ(cuEventElapsedTime_v2(&ms, a, untimed), cu::ERROR_INVALID_HANDLE);  // DISABLE_TIMING
    CHECK_EQ(cuStreamWaitEvent(s, a, 0), cu::SUCCESS);
    CHECK_EQ(cuStreamWaitEvent(s, a, 8), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuEventDestroy_v2(a), cu::SUCCESS);
    CHECK_EQ(cuEventRecord(a, s), cu::ERROR_INVALID_HANDLE);
    CHECK_EQ(cuEventDestroy_v2(a), cu::ERROR_INVALID_HANDLE);
    CHECK_EQ(cuStreamWaitEvent(s, a, 0), cu::ERROR_INVALID_HANDLE);
    CHECK_EQ(cuEventDestroy_v2(b), cu::SUCCESS);
    CHECK_EQ(cuEventDestroy_v2(untimed), cu::SUCCESS);
    CHECK_EQ(cuStreamDestroy_v2(s), cu::SUCCESS);
}

PDEMU_TEST_MAIN
