// Stream capture and graphs against the driver API's capture rules: what is recorded (with parameter values copied
// at capture), replay, the calls the capture modes forbid (STREAM_CAPTURE_UNSUPPORTED) and what invalidates a
// capture (STREAM_CAPTURE_INVALIDATED at cuStreamEndCapture), the legacy stream (IMPLICIT), captured events,
// cross-stream fork/join (UNJOINED, MERGE, ISOLATION) and the thread rules (WRONG_THREAD).
#include "check.h"
#include "driver/api.h"
#include "driver_harness.h"
#include "driver_ptx_kernels.h"

#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace pdemu;

namespace {
CUmodule g_module = nullptr;
CUfunction g_fill = nullptr;

void setup() {
    if (!pdemu_test::open_primary_context_once()) return;
    CHECK_EQ(cuModuleLoadData(&g_module, kTestPtx), cu::SUCCESS);
    CHECK_EQ(cuModuleGetFunction(&g_fill, g_module, "fill"), cu::SUCCESS);
}

CUstream stream(unsigned flags = cu::STREAM_NON_BLOCKING) { return pdemu_test::new_stream(flags); }

CUresult fill(CUstream s, CUdeviceptr out, uint32_t n, float v) {
    void* params[] = {&out, &n, &v};
    return cuLaunchKernel(g_fill, (n + 63) / 64, 1, 1, 64, 1, 1, 0, s, params, nullptr);
}

std::vector<float> read(CUdeviceptr d, size_t n) {  // from another thread, so it is allowed during any capture
    std::vector<float> h(n);
    std::thread([&] {
        CUcontext ctx = nullptr;
        CHECK_EQ(cuDevicePrimaryCtxRetain(&ctx, 0), cu::SUCCESS);
        CHECK_EQ(cuCtxSetCurrent(ctx), cu::SUCCESS);
        CHECK_EQ(cuMemcpyDtoH_v2(h.data(), d, n * 4), cu::SUCCESS);
        CHECK_EQ(cuDevicePrimaryCtxRelease_v2(0), cu::SUCCESS);
    }).join();
    return h;
}

CUdeviceptr alloc(size_t bytes) {
    CUdeviceptr d = 0;
    CHECK_EQ(cuMemAlloc_v2(&d, bytes), cu::SUCCESS);
    CHECK_EQ(cuMemsetD8Async(d, 0, bytes, nullptr), cu::SUCCESS);
    return d;
}

/** Ends the capture expecting `code`; a successful capture's graph is destroyed. */
void end(CUstream s, CUresult code) {
    CUgraph g = reinterpret_cast<CUgraph>(1);
    CHECK_EQ(cuStreamEndCapture(s, &g), code);
    if (code == cu::SUCCESS) CHECK_EQ(cuGraphDestroy(g), cu::SUCCESS);
    else CHECK(g == nullptr || g == reinterpret_cast<CUgraph>(1));
}
}  // namespace

TEST(capture_records_instead_of_running_and_replays_copied_parameters) {
    setup();
    CUstream s = stream();
    CUdeviceptr d = alloc(256 * 4), e = alloc(256 * 4);
    std::vector<float> host(256, 7.0f), back(256, 0.0f);
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_THREAD_LOCAL), cu::SUCCESS);
    CHECK_EQ(cuMemcpyHtoDAsync_v2(e, host.data(), 256 * 4, s), cu::SUCCESS);
    float value = 3.0f;
    CHECK_EQ(fill(s, d, 100, value), cu::SUCCESS);
    value = 5.0f;  // changing the argument after the call must not change the recorded launch
    CHECK_EQ(cuMemcpyDtoDAsync_v2(d + 200 * 4, e, 16, s), cu::SUCCESS);
    CHECK_EQ(cuMemcpyDtoHAsync_v2(back.data(), d, 256 * 4, s), cu::SUCCESS);
    CHECK_EQ(read(d, 256)[0], 0.0f);  // nothing ran yet
    CHECK_EQ(read(e, 256)[0], 0.0f);
    CUgraph g = nullptr;
    CHECK_EQ(cuStreamEndCapture(s, &g), cu::SUCCESS);
    CHECK(g != nullptr);
    CUgraphExec x = nullptr;
    CHECK_EQ(cuGraphInstantiateWithFlags(&x, g, 0), cu::SUCCESS);
    CHECK_EQ(cuGraphLaunch(x, s), cu::SUCCESS);
    CHECK_EQ(cuStreamSynchronize(s), cu::SUCCESS);
    CHECK_EQ(back[0], 3.0f);
    CHECK_EQ(back[99], 3.0f);
    CHECK_EQ(back[100], 0.0f);
    CHECK_EQ(back[200], 7.0f);
    CHECK_EQ(back[203], 7.0f);
    CHECK_EQ(back[204], 0.0f);
    CHECK_EQ(cuMemsetD8Async(d, 0, 256 * 4, s), cu::SUCCESS);  // replay again after clearing
    std::fill(back.begin(), back.end(), -1.0f);
    CHECK_EQ(cuGraphLaunch(x, s), cu::SUCCESS);
    CHECK_EQ(back[50], 3.0f);
    CHECK_EQ(cuGraphDestroy(g), cu::SUCCESS);  // the executable graph has its own copy
    CHECK_EQ(cuGraphLaunch(x, s), cu::SUCCESS);
    CHECK_EQ(cuGraphDestroy(g), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuGraphExecDestroy(x), cu::SUCCESS);
    CHECK_EQ(cuGraphLaunch(x, s), cu::ERROR_INVALID_HANDLE);
    CHECK_EQ(cuGraphExecDestroy(x), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuMemFree_v2(d), cu::SUCCESS);
    CHECK_EQ(cuMemFree_v2(e), cu::SUCCESS);
    CHECK_EQ(cuStreamDestroy_v2(s), cu::SUCCESS);
}

TEST(begin_and_end_capture_rules) {
    setup();
    CUstream s = stream();
    CHECK_EQ(cuStreamBeginCapture_v2(nullptr, cu::CAPTURE_MODE_GLOBAL), cu::ERROR_STREAM_CAPTURE_UNSUPPORTED);
    CHECK_EQ(cuStreamBeginCapture_v2(s, 7), cu::ERROR_INVALID_VALUE);
    CUgraph g = nullptr;
    CHECK_EQ(cuStreamEndCapture(s, &g), cu::ERROR_ILLEGAL_STATE);  // not capturing
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_GLOBAL), cu::SUCCESS);
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_GLOBAL), cu::ERROR_ILLEGAL_STATE);
    CHECK_EQ(cuStreamEndCapture(s, nullptr), cu::ERROR_INVALID_VALUE);
    std::thread([&] {  // a GLOBAL capture must be ended by the thread that began it
        CUcontext ctx = nullptr;
        CHECK_EQ(cuDevicePrimaryCtxRetain(&ctx, 0), cu::SUCCESS);
        CHECK_EQ(cuCtxSetCurrent(ctx), cu::SUCCESS);
        CUgraph other = nullptr;
        CHECK_EQ(cuStreamEndCapture(s, &other), cu::ERROR_STREAM_CAPTURE_WRONG_THREAD);
        CHECK_EQ(cuDevicePrimaryCtxRelease_v2(0), cu::SUCCESS);
    }).join();
    end(s, cu::SUCCESS);  // an empty capture is a valid (empty) graph
    CUgraphExec x = nullptr;
    CHECK_EQ(cuGraphInstantiateWithFlags(&x, nullptr, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuStreamDestroy_v2(s), cu::SUCCESS);
}

TEST(synchronizing_during_capture_is_unsupported_and_invalidates) {
    setup();
    CUstream s = stream();
    CUdeviceptr d = alloc(64);
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cuMemsetD8Async(d, 1, 64, s), cu::SUCCESS);
    CHECK_EQ(cuStreamSynchronize(s), cu::ERROR_STREAM_CAPTURE_UNSUPPORTED);
    CHECK_EQ(cuMemsetD8Async(d, 1, 64, s), cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    end(s, cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cuCtxSynchronize(), cu::ERROR_STREAM_CAPTURE_UNSUPPORTED);
    end(s, cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    CUevent ev = nullptr;
    CHECK_EQ(cuEventCreate(&ev, 0), cu::SUCCESS);
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cuEventRecord(ev, s), cu::SUCCESS);
    float ms = 0;
    CHECK_EQ(cuEventElapsedTime_v2(&ms, ev, ev), cu::ERROR_CAPTURED_EVENT);
    CHECK_EQ(cuEventSynchronize(ev), cu::ERROR_CAPTURED_EVENT);
    end(s, cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    CHECK_EQ(cuEventSynchronize(ev), cu::SUCCESS);  // after the capture the event is an ordinary event again
    CHECK_EQ(cuEventDestroy_v2(ev), cu::SUCCESS);
    CHECK_EQ(cuCtxSynchronize(), cu::SUCCESS);
    CHECK_EQ(cuMemFree_v2(d), cu::SUCCESS);
    CHECK_EQ(cuStreamDestroy_v2(s), cu::SUCCESS);
}

TEST(unsafe_calls_follow_the_capture_mode) {
    setup();
    CUstream s = stream();
    CUdeviceptr p = 0;
    std::vector<uint8_t> host(16);
    auto from_other_thread = [&](CUresult expected) {
        std::thread([&] {
            CUcontext ctx = nullptr;
            CHECK_EQ(cuDevicePrimaryCtxRetain(&ctx, 0), cu::SUCCESS);
            CHECK_EQ(cuCtxSetCurrent(ctx), cu::SUCCESS);
            CUdeviceptr q = 0;
            CHECK_EQ(cuMemAlloc_v2(&q, 16), expected);
            if (expected == cu::SUCCESS) CHECK_EQ(cuMemFree_v2(q), cu::SUCCESS);
            CHECK_EQ(cuDevicePrimaryCtxRelease_v2(0), cu::SUCCESS);
        }).join();
    };
    // GLOBAL: unsafe calls are prohibited on every thread, and invalidate the capture.
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_GLOBAL), cu::SUCCESS);
    from_other_thread(cu::ERROR_STREAM_CAPTURE_UNSUPPORTED);
    end(s, cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_GLOBAL), cu::SUCCESS);
    CHECK_EQ(cuMemAlloc_v2(&p, 16), cu::ERROR_STREAM_CAPTURE_UNSUPPORTED);
    end(s, cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    // THREAD_LOCAL: prohibited on the capturing thread only.
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_THREAD_LOCAL), cu::SUCCESS);
    from_other_thread(cu::SUCCESS);
    CHECK_EQ(cuMemcpyHtoD_v2(p, host.data(), 16), cu::ERROR_STREAM_CAPTURE_UNSUPPORTED);  // synchronous copy
    end(s, cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    CUevent ev = nullptr;  // waiting for an ordinary event is also potentially unsafe
    CHECK_EQ(cuEventCreate(&ev, 0), cu::SUCCESS);
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_GLOBAL), cu::SUCCESS);
    CHECK_EQ(cuEventSynchronize(ev), cu::ERROR_STREAM_CAPTURE_UNSUPPORTED);
    end(s, cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cuEventSynchronize(ev), cu::SUCCESS);
    end(s, cu::SUCCESS);
    CHECK_EQ(cuEventDestroy_v2(ev), cu::SUCCESS);
    // RELAXED: allowed.
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cuMemAlloc_v2(&p, 16), cu::SUCCESS);
    CHECK_EQ(cuMemFree_v2(p), cu::SUCCESS);
    from_other_thread(cu::SUCCESS);
    end(s, cu::SUCCESS);
    CHECK_EQ(cuStreamDestroy_v2(s), cu::SUCCESS);
}

TEST(the_legacy_stream_and_blocking_captures) {
    setup();
    CUdeviceptr d = alloc(64);
    CUstream blocking = stream(cu::STREAM_DEFAULT), nonblocking = stream();
    CHECK_EQ(cuStreamBeginCapture_v2(nonblocking, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cuMemsetD8Async(d, 1, 64, nullptr), cu::SUCCESS);  // non-blocking capture: the legacy stream is free
    end(nonblocking, cu::SUCCESS);
    CHECK_EQ(cuStreamBeginCapture_v2(blocking, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cuMemsetD8Async(d, 1, 64, nullptr), cu::ERROR_STREAM_CAPTURE_IMPLICIT);
    end(blocking, cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    CHECK_EQ(cuStreamBeginCapture_v2(blocking, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cuStreamSynchronize(nullptr), cu::ERROR_STREAM_CAPTURE_IMPLICIT);
    end(blocking, cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    CHECK_EQ(cuMemFree_v2(d), cu::SUCCESS);
    CHECK_EQ(cuStreamDestroy_v2(blocking), cu::SUCCESS);
    CHECK_EQ(cuStreamDestroy_v2(nonblocking), cu::SUCCESS);
}

TEST(cross_stream_fork_join_merge_and_isolation) {
    setup();
    CUstream a = stream(), b = stream(), c = stream();
    CUevent fork = nullptr, join = nullptr, outside = nullptr;
    CHECK_EQ(cuEventCreate(&fork, 0), cu::SUCCESS);
    CHECK_EQ(cuEventCreate(&join, 0), cu::SUCCESS);
    CHECK_EQ(cuEventCreate(&outside, 0), cu::SUCCESS);
    CUdeviceptr d = alloc(128 * 4);
    // Fork b off a, work on both, join b back: one graph with both streams' work.
    CHECK_EQ(cuStreamBeginCapture_v2(a, cu::CAPTURE_MODE_GLOBAL), cu::SUCCESS);
    CHECK_EQ(fill(a, d, 64, 1.0f), cu::SUCCESS);
    CHECK_EQ(cuEventRecord(fork, a), cu::SUCCESS);
    CHECK_EQ(cuStreamWaitEvent(b, fork, 0), cu::SUCCESS);
    CHECK_EQ(fill(b, d + 64 * 4, 64, 2.0f), cu::SUCCESS);  // b now records into a's capture
    CHECK_EQ(cuEventRecord(join, b), cu::SUCCESS);
    CHECK_EQ(cuStreamWaitEvent(a, join, 0), cu::SUCCESS);
    CHECK_EQ(cuStreamEndCapture(b, nullptr), cu::ERROR_INVALID_VALUE);
    CUgraph g = nullptr;
    CHECK_EQ(cuStreamEndCapture(a, &g), cu::SUCCESS);
    CUgraphExec x = nullptr;
    CHECK_EQ(cuGraphInstantiateWithFlags(&x, g, 0), cu::SUCCESS);
    CHECK_EQ(read(d, 128)[100], 0.0f);
    CHECK_EQ(cuGraphLaunch(x, c), cu::SUCCESS);
    auto out = read(d, 128);
    CHECK_EQ(out[0], 1.0f);
    CHECK_EQ(out[127], 2.0f);
    CHECK_EQ(cuMemsetD8Async(d, 0, 128 * 4, b), cu::SUCCESS);  // b left the capture with it
    // A graph launched inside another capture is recorded into it.
    CHECK_EQ(cuStreamBeginCapture_v2(c, cu::CAPTURE_MODE_GLOBAL), cu::SUCCESS);
    CHECK_EQ(cuGraphLaunch(x, c), cu::SUCCESS);
    CUgraph outer = nullptr;
    CHECK_EQ(cuStreamEndCapture(c, &outer), cu::SUCCESS);
    CHECK_EQ(read(d, 128)[0], 0.0f);
    CUgraphExec ox = nullptr;
    CHECK_EQ(cuGraphInstantiateWithFlags(&ox, outer, 0), cu::SUCCESS);
    CHECK_EQ(cuGraphLaunch(ox, c), cu::SUCCESS);
    CHECK_EQ(read(d, 128)[127], 2.0f);
    // Forked work never joined back: UNJOINED.
    CHECK_EQ(cuStreamBeginCapture_v2(a, cu::CAPTURE_MODE_GLOBAL), cu::SUCCESS);
    CHECK_EQ(cuEventRecord(fork, a), cu::SUCCESS);
    CHECK_EQ(cuStreamWaitEvent(b, fork, 0), cu::SUCCESS);
    CHECK_EQ(fill(b, d, 8, 9.0f), cu::SUCCESS);
    end(a, cu::ERROR_STREAM_CAPTURE_UNJOINED);
    CHECK_EQ(cuMemsetD8Async(d, 0, 16, b), cu::SUCCESS);  // b is out of capture mode again
    // Two separate captures cannot be merged.
    CHECK_EQ(cuStreamBeginCapture_v2(a, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cuStreamBeginCapture_v2(b, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cuEventRecord(fork, a), cu::SUCCESS);
    CHECK_EQ(cuStreamWaitEvent(b, fork, 0), cu::ERROR_STREAM_CAPTURE_MERGE);
    end(a, cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    end(b, cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    // A capture cannot depend on uncaptured work.
    CHECK_EQ(cuEventRecord(outside, c), cu::SUCCESS);
    CHECK_EQ(cuStreamBeginCapture_v2(a, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cuStreamWaitEvent(a, outside, 0), cu::ERROR_STREAM_CAPTURE_ISOLATION);
    end(a, cu::ERROR_STREAM_CAPTURE_INVALIDATED);
    CHECK_EQ(cuGraphExecDestroy(x), cu::SUCCESS);
    CHECK_EQ(cuGraphExecDestroy(ox), cu::SUCCESS);
    CHECK_EQ(cuGraphDestroy(g), cu::SUCCESS);
    CHECK_EQ(cuGraphDestroy(outer), cu::SUCCESS);
    for (CUevent e : {fork, join, outside}) CHECK_EQ(cuEventDestroy_v2(e), cu::SUCCESS);
    for (CUstream s : {a, b, c}) CHECK_EQ(cuStreamDestroy_v2(s), cu::SUCCESS);
    CHECK_EQ(cuMemFree_v2(d), cu::SUCCESS);
}

TEST(replaying_work_on_freed_memory_faults) {  // last: it leaves the context with a sticky error
    setup();
    CUstream s = stream();
    CUdeviceptr d = alloc(64);
    CHECK_EQ(cuGraphInstantiateWithFlags(nullptr, nullptr, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuStreamBeginCapture_v2(s, cu::CAPTURE_MODE_RELAXED), cu::SUCCESS);
    CHECK_EQ(cuMemsetD8Async(d, 1, 64, s), cu::SUCCESS);
    CUgraph g = nullptr;
    CHECK_EQ(cuStreamEndCapture(s, &g), cu::SUCCESS);
    CUgraphExec x = nullptr;
    CHECK_EQ(cuGraphInstantiateWithFlags(&x, g, 0x100), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuGraphInstantiateWithFlags(&x, g, 0), cu::SUCCESS);
    CHECK_EQ(cuMemFree_v2(d), cu::SUCCESS);
    CHECK_EQ(cuGraphLaunch(x, s), cu::ERROR_ILLEGAL_ADDRESS);
    CHECK(std::string(pdemuLastErrorDetail()).find("freed") != std::string::npos);
    CHECK_EQ(cuCtxSynchronize(), cu::ERROR_ILLEGAL_ADDRESS);
}

PDEMU_TEST_MAIN
