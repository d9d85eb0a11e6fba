// Driver state shared by the API files: initialisation, the primary context (its handles, its sticky error), the
// calling thread's current context, the last error's detail, and stream work (executed at once, or recorded into
// the graph of a stream capture).
#pragma once

#include "driver/api.h"
#include "driver/cuda_types.h"

#include <pdemu/ptx.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

// The handle types are our own structures.
struct CUstream_st;
struct CUevent_st;
struct CUgraph_st;
struct CUgraphExec_st;

namespace pdemu::drv {

/** One unit of stream work. Runs on the calling thread; returns SUCCESS or the error (its detail set by fail()). */
using Op = std::function<CUresult()>;

struct Node {
    std::string what;  // "kernel silu_f16", "memcpy HtoD 4096 bytes", ...
    Op op;
};

struct Capture;

}  // namespace pdemu::drv

struct CUstream_st {
    unsigned flags = 0;
    bool legacy = false;
    pdemu::drv::Capture* capture = nullptr;  // the capture this stream records into, if any
};

struct CUevent_st {
    unsigned flags = 0;
    bool recorded = false;                      // recorded (and, streams being synchronous, complete)
    std::chrono::steady_clock::time_point time;
    pdemu::drv::Capture* captured_in = nullptr; // last recorded in this (ongoing) capture
    CUstream_st* captured_stream = nullptr;
    size_t captured_position = 0;               // nodes in the capture's graph when it was recorded
};

struct CUgraph_st {
    std::vector<pdemu::drv::Node> nodes;  // in capture order, which respects every captured dependency
};

struct CUgraphExec_st {
    std::vector<pdemu::drv::Node> nodes;
};

namespace pdemu::drv {

struct Capture {
    std::unique_ptr<CUgraph_st> graph = std::make_unique<CUgraph_st>();
    int mode = 0;
    std::thread::id thread;
    CUstream_st* origin = nullptr;
    std::vector<CUstream_st*> members;           // origin first, then streams forked into the capture
    std::map<CUstream_st*, size_t> last_node;    // per member: graph size after its last captured work
    std::set<CUstream_st*> joined;               // forked members whose work the origin has waited for
    bool invalidated = false;
    std::string invalidated_by;
};

struct Context {
    int refcount = 0;
    bool active = false;
    CUresult sticky = cu::SUCCESS;
    std::string sticky_detail;
    CUstream_st legacy_stream;
    std::set<CUstream_st*> streams;
    std::set<CUevent_st*> events;
    std::set<CUmod_st*> modules;
    std::set<CUfunc_st*> functions;  // of the live modules
    std::set<CUgraph_st*> graphs;
    std::set<CUgraphExec_st*> execs;
    std::vector<std::unique_ptr<Capture>> captures;
};

std::recursive_mutex& api_mutex();
bool& initialized();
Context& primary();
CUcontext primary_handle();
Context*& current();  // thread-local; nullptr when no context is current

/** Records `detail` as this thread's last error detail (pdemuLastErrorDetail) and returns `code`. */
CUresult fail(CUresult code, const std::string& detail);
/** This thread's last error detail (what pdemuLastErrorDetail returns). */
const std::string& last_detail();
std::string hex(uint64_t v);

/** SUCCESS when the driver is initialised; else NOT_INITIALIZED. */
CUresult require_init(const char* api);
/** Init, a current active context, and no sticky error; the context is returned in `out`. */
CUresult require_context(const char* api, Context** out);

/** 0, CU_STREAM_LEGACY and CU_STREAM_PER_THREAD name the legacy stream; anything else must be a live stream. */
CUresult resolve_stream(Context& c, CUstream handle, CUstream_st** out, const char* api);

/** Whether `code` is a device fault that makes the context's error sticky. */
bool is_sticky(CUresult code);
/** Makes a fault sticky (keeping the first one) and returns it. */
CUresult make_sticky(Context& c, CUresult code);

/**
 * Enqueues work on `s`: recorded into the stream's capture (the capture rules checked), or else run now (streams
 * execute synchronously at enqueue). A fault from the op becomes the context's sticky error.
 */
CUresult enqueue(Context& c, CUstream_st* s, std::string what, Op op, const char* api);
/** Runs the nodes of a graph in order; stops at the first error. */
CUresult run_nodes(Context& c, const std::vector<Node>& nodes, const char* api);

// Stream capture rules (driver API documentation, "stream capture" and cuStreamBeginCapture's mode parameter).
void invalidate(Capture& cap, const std::string& why);
/** The legacy stream may not be used while a blocking stream of the context captures: IMPLICIT (906). */
CUresult check_legacy_use(Context& c, const char* api);
/** "Potentially unsafe" calls (allocation, synchronous copies, module loads) under a capture the mode forbids. */
CUresult check_unsafe_call(Context& c, const char* api);
/** Removes a capture from the context, taking its streams out of capture mode; returns its graph. */
std::unique_ptr<CUgraph_st> end_capture(Context& c, Capture* cap);

/** Frees everything the context owns and clears its sticky error (last release of the primary context). */
void reset_context(Context& c);

/** External work (cuBLASLt, cuDNN) on a stream: the current context, or the primary one when it is active. */
CUresult enqueue_external(CUstream stream, std::string what, Op op, const char* api);
/** Whether `stream` is being captured (false for unknown streams). */
bool stream_is_capturing(CUstream stream);
/** Whether `stream` is a live stream (or the legacy stream) of the context external work would use. */
bool stream_is_valid(CUstream stream);

}  // namespace pdemu::drv
