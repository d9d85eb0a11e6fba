// The primary context: retain/release (the last release resets it: frees its memory and handles and clears a sticky
// error), the calling thread's current context, cuCtxSynchronize and cuMemGetInfo.
#include "driver/memory.h"
#include "driver/state.h"

using namespace pdemu;
using namespace pdemu::drv;

PDEMU_API CUresult cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev) {
    std::lock_guard lock(api_mutex());
    if (!pctx) return fail(cu::ERROR_INVALID_VALUE, "cuDevicePrimaryCtxRetain: pctx is NULL");
    if (CUresult r = require_init("cuDevicePrimaryCtxRetain")) return r;
    if (dev != 0) return fail(cu::ERROR_INVALID_DEVICE, "cuDevicePrimaryCtxRetain: no device " + std::to_string(dev));
    Context& c = primary();
    ++c.refcount;
    c.active = true;
    *pctx = primary_handle();
    return cu::SUCCESS;
}

PDEMU_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
    std::lock_guard lock(api_mutex());
    if (CUresult r = require_init("cuDevicePrimaryCtxRelease_v2")) return r;
    if (dev != 0) return fail(cu::ERROR_INVALID_DEVICE, "cuDevicePrimaryCtxRelease_v2: no device " + std::to_string(dev));
    Context& c = primary();
    if (c.refcount == 0)
        return fail(cu::ERROR_INVALID_CONTEXT, "cuDevicePrimaryCtxRelease_v2: the primary context is not retained");
    if (--c.refcount == 0) {
        reset_context(c);
        c.active = false;
    }
    return cu::SUCCESS;
}

PDEMU_API CUresult cuCtxSetCurrent(CUcontext ctx) {
    std::lock_guard lock(api_mutex());
    if (CUresult r = require_init("cuCtxSetCurrent")) return r;
    if (ctx == nullptr) {
        current() = nullptr;
        return cu::SUCCESS;
    }
    if (ctx != primary_handle())
        return fail(cu::ERROR_INVALID_CONTEXT, "cuCtxSetCurrent: " + hex(reinterpret_cast<uint64_t>(ctx)) +
                                                   " is not a context (the emulator has only the primary context)");
    current() = &primary();
    return cu::SUCCESS;
}

PDEMU_API CUresult cuCtxGetCurrent(CUcontext* pctx) {
    std::lock_guard lock(api_mutex());
    if (!pctx) return fail(cu::ERROR_INVALID_VALUE, "cuCtxGetCurrent: pctx is NULL");
    if (CUresult r = require_init("cuCtxGetCurrent")) return r;
    *pctx = current() ? primary_handle() : nullptr;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuCtxSynchronize(void) {
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    if (CUresult r = require_context("cuCtxSynchronize", &c)) return r;
    if (!c->captures.empty()) {
        for (auto& cap : c->captures) invalidate(*cap, "cuCtxSynchronize was called");
        return fail(cu::ERROR_STREAM_CAPTURE_UNSUPPORTED,
                    "cuCtxSynchronize: a stream of the context is being captured (synchronizing the context would "
                    "synchronize it)");
    }
    return cu::SUCCESS;  // streams execute synchronously: all work is complete
}

PDEMU_API CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
    std::lock_guard lock(api_mutex());
    if (!free || !total) return fail(cu::ERROR_INVALID_VALUE, "cuMemGetInfo_v2: free or total is NULL");
    if (CUresult r = require_context("cuMemGetInfo_v2", nullptr)) return r;
    *total = memory().limit();
    *free = memory().limit() - memory().used();
    return cu::SUCCESS;
}
