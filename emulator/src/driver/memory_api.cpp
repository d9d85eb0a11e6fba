// Allocation (device and pinned host), copies and memset, every device range checked against the live allocations.
#include "driver/memory.h"
#include "driver/state.h"

#include <cstdio>
#include <cstring>

using namespace pdemu;
using namespace pdemu::drv;

namespace {

using Kind = MemoryTable::Kind;

/** INVALID_VALUE with a description unless [address, +size) lies in one live device allocation. */
CUresult check_device_range(uint64_t address, size_t size, bool write, const char* api, const char* role) {
    std::string why;
    if (memory().resolve(address, size, write, &why)) return cu::SUCCESS;
    return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": " + role + " " + why);
}

CUresult check_host_range(const void* host, size_t size, const char* api, const char* role) {
    if (!host) return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": " + role + " host pointer is NULL");
    std::string why;
    if (memory().host_range_ok(host, size, &why)) return cu::SUCCESS;
    return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": " + role + " " + why);
}

/** At execution time (graph replay included) a device range that is no longer valid is a device fault. */
void* device_at_run(uint64_t address, size_t size, bool write, const std::string& what) {
    std::string why;
    void* p = memory().resolve(address, size, write, &why);
    if (!p) fail(cu::ERROR_ILLEGAL_ADDRESS, what + ": " + why);
    return p;
}

Op copy_to_device(uint64_t dst, const void* src, size_t n) {
    return [=]() -> CUresult {
        void* d = device_at_run(dst, n, true, "memcpy HtoD destination");
        if (!d) return cu::ERROR_ILLEGAL_ADDRESS;
        std::memcpy(d, src, n);
        return cu::SUCCESS;
    };
}

Op copy_to_host(void* dst, uint64_t src, size_t n) {
    return [=]() -> CUresult {
        void* s = device_at_run(src, n, false, "memcpy DtoH source");
        if (!s) return cu::ERROR_ILLEGAL_ADDRESS;
        std::memcpy(dst, s, n);
        return cu::SUCCESS;
    };
}

/** The ranges of a copy between host and device: the device range first (written when `to_device`), then the host's. */
CUresult check_copy_ranges(uint64_t device, const void* host, size_t size, bool to_device, const char* api) {
    if (CUresult r = check_device_range(device, size, to_device, api, to_device ? "destination" : "source")) return r;
    return check_host_range(host, size, api, to_device ? "source" : "destination");
}

/** The current context and the stream an asynchronous call names in it. */
CUresult context_and_stream(CUstream hStream, Context** c, CUstream_st** s, const char* api) {
    if (CUresult r = require_context(api, c)) return r;
    return resolve_stream(**c, hStream, s, api);
}

/** Synchronous copies run on the legacy stream: the capture rules for it and for "unsafe" calls apply. */
CUresult sync_copy_checks(Context& c, const char* api) {
    if (CUresult r = check_legacy_use(c, api)) return r;
    return check_unsafe_call(c, api);
}

}  // namespace

PDEMU_API CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytesize) {
    std::lock_guard lock(api_mutex());
    if (!dptr) return fail(cu::ERROR_INVALID_VALUE, "cuMemAlloc_v2: dptr is NULL");
    Context* c = nullptr;
    if (CUresult r = require_context("cuMemAlloc_v2", &c)) return r;
    if (CUresult r = check_unsafe_call(*c, "cuMemAlloc_v2")) return r;
    if (bytesize == 0) return fail(cu::ERROR_INVALID_VALUE, "cuMemAlloc_v2: bytesize is 0");
    std::string why;
    uint64_t p = memory().allocate(bytesize, Kind::device, &why);
    if (!p) return fail(cu::ERROR_OUT_OF_MEMORY, "cuMemAlloc_v2: " + why);
    *dptr = p;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuMemFree_v2(CUdeviceptr dptr) {
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    if (CUresult r = require_context("cuMemFree_v2", &c)) return r;
    if (CUresult r = check_unsafe_call(*c, "cuMemFree_v2")) return r;
    std::string why, corruption;
    if (!memory().release(dptr, Kind::device, &why, &corruption))
        return fail(cu::ERROR_INVALID_VALUE, "cuMemFree_v2: " + why + " (not the start of a live cuMemAlloc allocation)");
    if (!corruption.empty()) {
        std::fprintf(stderr, "pdemu: cuMemFree_v2: %s\n", corruption.c_str());
        fail(cu::SUCCESS, "cuMemFree_v2: " + corruption);
    }
    return cu::SUCCESS;
}

PDEMU_API CUresult cuMemHostAlloc(void** pp, size_t bytesize, unsigned int Flags) {
    std::lock_guard lock(api_mutex());
    if (!pp) return fail(cu::ERROR_INVALID_VALUE, "cuMemHostAlloc: pp is NULL");
    if (Flags & ~(cu::MEMHOSTALLOC_PORTABLE | cu::MEMHOSTALLOC_DEVICEMAP | cu::MEMHOSTALLOC_WRITECOMBINED))
        return fail(cu::ERROR_INVALID_VALUE, "cuMemHostAlloc: unknown Flags " + hex(Flags));
    Context* c = nullptr;
    if (CUresult r = require_context("cuMemHostAlloc", &c)) return r;
    if (CUresult r = check_unsafe_call(*c, "cuMemHostAlloc")) return r;
    if (bytesize == 0) return fail(cu::ERROR_INVALID_VALUE, "cuMemHostAlloc: bytesize is 0");
    std::string why;
    uint64_t p = memory().allocate(bytesize, Kind::pinned_host, &why);
    if (!p) return fail(cu::ERROR_OUT_OF_MEMORY, "cuMemHostAlloc: " + why);
    *pp = reinterpret_cast<void*>(p);
    return cu::SUCCESS;
}

PDEMU_API CUresult cuMemFreeHost(void* p) {
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    if (CUresult r = require_context("cuMemFreeHost", &c)) return r;
    if (CUresult r = check_unsafe_call(*c, "cuMemFreeHost")) return r;
    std::string why;
    if (!memory().release(reinterpret_cast<uint64_t>(p), Kind::pinned_host, &why, nullptr))
        return fail(cu::ERROR_INVALID_VALUE, "cuMemFreeHost: " + hex(reinterpret_cast<uint64_t>(p)) +
                                                 " is not a live cuMemHostAlloc buffer (" + why + ")");
    return cu::SUCCESS;
}

PDEMU_API CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount) {
    static const char* api = "cuMemcpyHtoD_v2";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (CUresult r = sync_copy_checks(*c, api)) return r;
    if (ByteCount == 0) return cu::SUCCESS;
    if (CUresult r = check_copy_ranges(dstDevice, srcHost, ByteCount, true, api)) return r;
    return enqueue(*c, &c->legacy_stream, "memcpy HtoD", copy_to_device(dstDevice, srcHost, ByteCount), api);
}

PDEMU_API CUresult cuMemcpyDtoH_v2(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount) {
    static const char* api = "cuMemcpyDtoH_v2";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (CUresult r = sync_copy_checks(*c, api)) return r;
    if (ByteCount == 0) return cu::SUCCESS;
    if (CUresult r = check_copy_ranges(srcDevice, dstHost, ByteCount, false, api)) return r;
    return enqueue(*c, &c->legacy_stream, "memcpy DtoH", copy_to_host(dstHost, srcDevice, ByteCount), api);
}

PDEMU_API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount, CUstream hStream) {
    static const char* api = "cuMemcpyHtoDAsync_v2";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    CUstream_st* s = nullptr;
    if (CUresult r = context_and_stream(hStream, &c, &s, api)) return r;
    if (ByteCount == 0) return cu::SUCCESS;
    if (CUresult r = check_copy_ranges(dstDevice, srcHost, ByteCount, true, api)) return r;
    return enqueue(*c, s, "memcpy HtoD " + std::to_string(ByteCount) + " bytes",
                   copy_to_device(dstDevice, srcHost, ByteCount), api);
}

PDEMU_API CUresult cuMemcpyDtoHAsync_v2(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream) {
    static const char* api = "cuMemcpyDtoHAsync_v2";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    CUstream_st* s = nullptr;
    if (CUresult r = context_and_stream(hStream, &c, &s, api)) return r;
    if (ByteCount == 0) return cu::SUCCESS;
    if (CUresult r = check_copy_ranges(srcDevice, dstHost, ByteCount, false, api)) return r;
    return enqueue(*c, s, "memcpy DtoH " + std::to_string(ByteCount) + " bytes",
                   copy_to_host(dstHost, srcDevice, ByteCount), api);
}

PDEMU_API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream) {
    static const char* api = "cuMemcpyDtoDAsync_v2";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    CUstream_st* s = nullptr;
    if (CUresult r = context_and_stream(hStream, &c, &s, api)) return r;
    if (ByteCount == 0) return cu::SUCCESS;
    if (CUresult r = check_device_range(srcDevice, ByteCount, false, api, "source")) return r;
    if (CUresult r = check_device_range(dstDevice, ByteCount, true, api, "destination")) return r;
    return enqueue(*c, s, "memcpy DtoD " + std::to_string(ByteCount) + " bytes", [=]() -> CUresult {
        void* sp = device_at_run(srcDevice, ByteCount, false, "memcpy DtoD source");
        void* dp = sp ? device_at_run(dstDevice, ByteCount, true, "memcpy DtoD destination") : nullptr;
        if (!sp || !dp) return cu::ERROR_ILLEGAL_ADDRESS;
        std::memmove(dp, sp, ByteCount);
        return cu::SUCCESS;
    }, api);
}

PDEMU_API CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream) {
    static const char* api = "cuMemsetD8Async";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    CUstream_st* s = nullptr;
    if (CUresult r = context_and_stream(hStream, &c, &s, api)) return r;
    if (N == 0) return cu::SUCCESS;
    if (CUresult r = check_device_range(dstDevice, N, true, api, "destination")) return r;
    return enqueue(*c, s, "memset " + std::to_string(N) + " bytes", [=]() -> CUresult {
        void* d = device_at_run(dstDevice, N, true, "memset destination");
        if (!d) return cu::ERROR_ILLEGAL_ADDRESS;
        std::memset(d, uc, N);
        return cu::SUCCESS;
    }, api);
}
