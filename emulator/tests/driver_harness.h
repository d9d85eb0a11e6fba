// Driver setup shared by the tests that need a current context: cuInit, the primary context of device 0 made
// current (once per process where the test asks for that), and a new stream.
#pragma once
#include "check.h"
#include "driver/api.h"

namespace pdemu_test {
/** cuInit, retains device 0's primary context and makes it current. */
inline CUcontext open_primary_context() {
    CUcontext ctx = nullptr;
    CHECK_EQ(cuInit(0), pdemu::cu::SUCCESS);
    CHECK_EQ(cuDevicePrimaryCtxRetain(&ctx, 0), pdemu::cu::SUCCESS);
    CHECK_EQ(cuCtxSetCurrent(ctx), pdemu::cu::SUCCESS);
    return ctx;
}

/** open_primary_context() the first time it is called, nothing after; true the first time. */
inline bool open_primary_context_once() {
    static bool done = false;
    if (done) return false;
    done = true;
    open_primary_context();
    return true;
}

/** A new stream (non-blocking unless `flags` say otherwise). */
inline CUstream new_stream(unsigned flags = pdemu::cu::STREAM_NON_BLOCKING) {
    CUstream s = nullptr;
    CHECK_EQ(cuStreamCreate(&s, flags), pdemu::cu::SUCCESS);
    return s;
}
}  // namespace pdemu_test
