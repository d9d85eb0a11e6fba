#include "driver/state.h"

#include "driver/memory.h"
#include "driver/module.h"

#include <cinttypes>
#include <cstdio>

namespace pdemu::drv {
namespace {
thread_local std::string t_detail;
thread_local Context* t_current = nullptr;
}  // namespace

std::recursive_mutex& api_mutex() {
    static std::recursive_mutex* m = new std::recursive_mutex();
    return *m;
}

bool& initialized() {
    static bool init = false;
    return init;
}

Context& primary() {
    static Context* c = [] {
        auto* ctx = new Context();
        ctx->legacy_stream.legacy = true;
        return ctx;
    }();
    return *c;
}

CUcontext primary_handle() { return reinterpret_cast<CUcontext>(&primary()); }

Context*& current() { return t_current; }

const std::string& last_detail() { return t_detail; }

CUresult fail(CUresult code, const std::string& detail) {
    t_detail = detail;
    return code;
}

std::string hex(uint64_t v) {
    char b[32];
    std::snprintf(b, sizeof b, "0x%" PRIx64, v);
    return b;
}

CUresult require_init(const char* api) {
    if (!initialized()) return fail(cu::ERROR_NOT_INITIALIZED, std::string(api) + ": cuInit has not been called");
    return cu::SUCCESS;
}

CUresult require_context(const char* api, Context** out) {
    if (CUresult r = require_init(api)) return r;
    Context* c = current();
    if (!c) return fail(cu::ERROR_INVALID_CONTEXT, std::string(api) + ": no context is current on this thread");
    if (!c->active)
        return fail(cu::ERROR_CONTEXT_IS_DESTROYED,
                    std::string(api) + ": the current context is a primary context that has been released");
    if (c->sticky != cu::SUCCESS) return fail(c->sticky, c->sticky_detail);
    if (out) *out = c;
    return cu::SUCCESS;
}

CUresult resolve_stream(Context& c, CUstream handle, CUstream_st** out, const char* api) {
    if (handle == nullptr || handle == cu::STREAM_LEGACY || handle == cu::STREAM_PER_THREAD) {
        *out = &c.legacy_stream;
        return cu::SUCCESS;
    }
    if (!c.streams.count(handle))
        return fail(cu::ERROR_INVALID_HANDLE, std::string(api) + ": stream " + hex(reinterpret_cast<uint64_t>(handle)) +
                                                  " is not a live stream of the current context");
    *out = handle;
    return cu::SUCCESS;
}

bool is_sticky(CUresult code) {
    return code == cu::ERROR_ILLEGAL_ADDRESS || code == cu::ERROR_MISALIGNED_ADDRESS ||
           code == cu::ERROR_ILLEGAL_INSTRUCTION || code == cu::ERROR_LAUNCH_FAILED;
}

CUresult make_sticky(Context& c, CUresult code) {
    if (c.sticky == cu::SUCCESS) {
        c.sticky = code;
        c.sticky_detail = t_detail;
    }
    return code;
}

void invalidate(Capture& cap, const std::string& why) {
    if (!cap.invalidated) {
        cap.invalidated = true;
        cap.invalidated_by = why;
    }
}

CUresult check_legacy_use(Context& c, const char* api) {
    bool implicit = false;
    for (auto& cap : c.captures) {
        for (CUstream_st* s : cap->members) {
            if (!(s->flags & cu::STREAM_NON_BLOCKING)) {
                implicit = true;
                invalidate(*cap, std::string(api) + " used the legacy stream");
            }
        }
    }
    if (implicit)
        return fail(cu::ERROR_STREAM_CAPTURE_IMPLICIT,
                    std::string(api) + ": the legacy stream was used while a blocking stream is being captured "
                                       "(create captured streams with CU_STREAM_NON_BLOCKING)");
    return cu::SUCCESS;
}

CUresult check_unsafe_call(Context& c, const char* api) {
    std::thread::id self = std::this_thread::get_id();
    bool prohibited = false;
    for (auto& cap : c.captures) {
        bool own = cap->thread == self && cap->mode != cu::CAPTURE_MODE_RELAXED;
        bool global_other = cap->thread != self && cap->mode == cu::CAPTURE_MODE_GLOBAL;
        if (own || global_other) {
            prohibited = true;
            invalidate(*cap, std::string(api) + " (potentially unsafe during capture) was called");
        }
    }
    if (prohibited)
        return fail(cu::ERROR_STREAM_CAPTURE_UNSUPPORTED,
                    std::string(api) + ": not permitted while a stream capture is in progress (capture mode GLOBAL, "
                                       "or THREAD_LOCAL on this thread; use RELAXED or call it before capturing)");
    return cu::SUCCESS;
}

std::unique_ptr<CUgraph_st> end_capture(Context& c, Capture* cap) {
    for (CUstream_st* s : cap->members) s->capture = nullptr;
    for (CUevent_st* e : c.events) {
        if (e->captured_in == cap) {
            e->captured_in = nullptr;
            e->captured_stream = nullptr;
        }
    }
    std::unique_ptr<CUgraph_st> graph = std::move(cap->graph);
    for (auto it = c.captures.begin(); it != c.captures.end(); ++it) {
        if (it->get() == cap) {
            c.captures.erase(it);
            break;
        }
    }
    return graph;
}

CUresult enqueue(Context& c, CUstream_st* s, std::string what, Op op, const char* api) {
    if (s->legacy) {
        if (CUresult r = check_legacy_use(c, api)) return r;
    }
    if (Capture* cap = s->capture) {
        if (cap->invalidated)
            return fail(cu::ERROR_STREAM_CAPTURE_INVALIDATED,
                        std::string(api) + ": the stream's capture was invalidated by an earlier error (" +
                            cap->invalidated_by + ")");
        cap->graph->nodes.push_back(Node{std::move(what), std::move(op)});
        cap->last_node[s] = cap->graph->nodes.size();
        if (s != cap->origin) cap->joined.erase(s);
        return cu::SUCCESS;
    }
    CUresult r = op();
    if (is_sticky(r)) make_sticky(c, r);
    return r;
}

CUresult run_nodes(Context& c, const std::vector<Node>& nodes, const char* api) {
    for (const Node& n : nodes) {
        CUresult r = n.op();
        if (r != cu::SUCCESS) {
            fail(r, std::string(api) + ": graph node '" + n.what + "' failed: " + t_detail);
            if (is_sticky(r)) make_sticky(c, r);
            return r;
        }
    }
    return cu::SUCCESS;
}

void reset_context(Context& c) {
    while (!c.captures.empty()) end_capture(c, c.captures.back().get());
    for (CUstream_st* s : c.streams) delete s;
    for (CUevent_st* e : c.events) delete e;
    for (CUgraphExec_st* g : c.execs) delete g;
    for (CUgraph_st* g : c.graphs) delete g;
    for (CUmod_st* m : c.modules) delete m;  // module variables are freed by the module
    c.streams.clear();
    c.events.clear();
    c.execs.clear();
    c.graphs.clear();
    c.modules.clear();
    c.functions.clear();
    memory().release_all();
    c.sticky = cu::SUCCESS;
    c.sticky_detail.clear();
}

CUresult enqueue_external(CUstream stream, std::string what, Op op, const char* api) {
    std::lock_guard lock(api_mutex());
    if (CUresult r = require_init(api)) return r;
    Context* c = current();
    if (!c && primary().active) c = &primary();
    if (!c) return fail(cu::ERROR_INVALID_CONTEXT, std::string(api) + ": no CUDA context is current");
    Context* saved = current();
    current() = c;
    Context* ctx = nullptr;
    CUresult r = require_context(api, &ctx);
    CUstream_st* s = nullptr;
    if (r == cu::SUCCESS) r = resolve_stream(*ctx, stream, &s, api);
    if (r == cu::SUCCESS) r = enqueue(*ctx, s, std::move(what), std::move(op), api);
    current() = saved;
    return r;
}

bool stream_is_capturing(CUstream stream) {
    std::lock_guard lock(api_mutex());
    Context* c = current() ? current() : &primary();
    return c->streams.count(stream) != 0 && stream->capture != nullptr;
}

bool stream_is_valid(CUstream stream) {
    std::lock_guard lock(api_mutex());
    if (stream == nullptr || stream == cu::STREAM_LEGACY || stream == cu::STREAM_PER_THREAD) return true;
    Context* c = current() ? current() : &primary();
    return c->streams.count(stream) != 0;
}

}  // namespace pdemu::drv

PDEMU_API const char* pdemuLastErrorDetail(void) { return pdemu::drv::last_detail().c_str(); }
