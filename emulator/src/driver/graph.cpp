// Graphs made by stream capture: instantiation copies the captured nodes; a launch replays them in capture order on
// the stream (or records them into that stream's capture).
#include "driver/state.h"

using namespace pdemu;
using namespace pdemu::drv;

PDEMU_API CUresult cuGraphInstantiateWithFlags(CUgraphExec* phGraphExec, CUgraph hGraph, unsigned long long flags) {
    static const char* api = "cuGraphInstantiateWithFlags";
    std::lock_guard lock(api_mutex());
    if (!phGraphExec) return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": phGraphExec is NULL");
    Context* c = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (!c->graphs.count(hGraph)) return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": not a live graph");
    const unsigned long long known = cu::GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH | cu::GRAPH_INSTANTIATE_FLAG_UPLOAD |
                                     cu::GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH | cu::GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY;
    if (flags & ~known) return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": unknown flags " + hex(flags));
    if (flags & cu::GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH)
        return fail(cu::ERROR_NOT_SUPPORTED, std::string(api) + ": device-side graph launch is not emulated");
    auto* e = new CUgraphExec_st();
    e->nodes = hGraph->nodes;
    c->execs.insert(e);
    *phGraphExec = e;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream) {
    static const char* api = "cuGraphLaunch";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    CUstream_st* s = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (!c->execs.count(hGraphExec)) return fail(cu::ERROR_INVALID_HANDLE, std::string(api) + ": not a live executable graph");
    if (CUresult r = resolve_stream(*c, hStream, &s, api)) return r;
    if (s->legacy) {
        if (CUresult r = check_legacy_use(*c, api)) return r;
    }
    if (s->capture) {  // a launch inside a capture records the graph's work into it
        for (const Node& n : hGraphExec->nodes)
            if (CUresult r = enqueue(*c, s, n.what, n.op, api)) return r;
        return cu::SUCCESS;
    }
    return run_nodes(*c, hGraphExec->nodes, api);
}

PDEMU_API CUresult cuGraphExecDestroy(CUgraphExec hGraphExec) {
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    if (CUresult r = require_context("cuGraphExecDestroy", &c)) return r;
    if (!c->execs.count(hGraphExec)) return fail(cu::ERROR_INVALID_VALUE, "cuGraphExecDestroy: not a live executable graph");
    c->execs.erase(hGraphExec);
    delete hGraphExec;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuGraphDestroy(CUgraph hGraph) {
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    if (CUresult r = require_context("cuGraphDestroy", &c)) return r;
    if (!c->graphs.count(hGraph)) return fail(cu::ERROR_INVALID_VALUE, "cuGraphDestroy: not a live graph");
    c->graphs.erase(hGraph);
    delete hGraph;
    return cu::SUCCESS;
}
