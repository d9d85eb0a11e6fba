// PDEMU_MEMORY_LIMIT: the emulated device's memory size, reported by cuDeviceTotalMem_v2 and cuMemGetInfo_v2 and
// enforced by cuMemAlloc_v2 (CUDA_ERROR_OUT_OF_MEMORY beyond it). The variable is read once, at the first query, so
// this test sets it before any driver call.
#include "check.h"
#include "driver/api.h"

#include <cstdlib>

using namespace pdemu;

TEST(the_limit_is_the_device_size) {
    setenv("PDEMU_MEMORY_LIMIT", "64M", 1);
    CUcontext ctx = nullptr;
    CHECK_EQ(cuInit(0), cu::SUCCESS);
    CHECK_EQ(cuDevicePrimaryCtxRetain(&ctx, 0), cu::SUCCESS);
    CHECK_EQ(cuCtxSetCurrent(ctx), cu::SUCCESS);
    size_t total = 0, free = 0;
    CHECK_EQ(cuDeviceTotalMem_v2(&total, 0), cu::SUCCESS);
    CHECK_EQ(total, size_t(64) << 20);
    CHECK_EQ(cuMemGetInfo_v2(&free, &total), cu::SUCCESS);
    CHECK_EQ(total, size_t(64) << 20);
    CHECK_EQ(free, total);
    CUdeviceptr a = 0, b = 0;
    CHECK_EQ(cuMemAlloc_v2(&a, 48 << 20), cu::SUCCESS);
    CHECK_EQ(cuMemGetInfo_v2(&free, &total), cu::SUCCESS);
    CHECK_EQ(free, size_t(16) << 20);
    CHECK_EQ(cuMemAlloc_v2(&b, 32 << 20), cu::ERROR_OUT_OF_MEMORY);
    CHECK_EQ(cuMemAlloc_v2(&b, 16 << 20), cu::SUCCESS);  // exactly what is left
    CHECK_EQ(cuMemAlloc_v2(&b, 1), cu::ERROR_OUT_OF_MEMORY);
    CHECK_EQ(cuMemFree_v2(a), cu::SUCCESS);
    CHECK_EQ(cuMemAlloc_v2(&a, 32 << 20), cu::SUCCESS);
}

PDEMU_TEST_MAIN
