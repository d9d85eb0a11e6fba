// Events: a record takes the host time when the stream reaches it (at once: streams are synchronous); inside a
// capture it only marks a point for cross-stream dependencies, as the driver documents.
#include "driver/state.h"

using namespace pdemu;
using namespace pdemu::drv;

namespace {
CUresult check_event(Context& c, CUevent e, const char* api) {
    if (!c.events.count(e))
        return fail(cu::ERROR_INVALID_HANDLE, std::string(api) + ": " + hex(reinterpret_cast<uint64_t>(e)) + " is not a live event");
    return cu::SUCCESS;
}
}  // namespace

PDEMU_API CUresult cuEventCreate(CUevent* phEvent, unsigned int Flags) {
    std::lock_guard lock(api_mutex());
    if (!phEvent) return fail(cu::ERROR_INVALID_VALUE, "cuEventCreate: phEvent is NULL");
    if (Flags & ~(cu::EVENT_BLOCKING_SYNC | cu::EVENT_DISABLE_TIMING | cu::EVENT_INTERPROCESS))
        return fail(cu::ERROR_INVALID_VALUE, "cuEventCreate: unknown Flags " + hex(Flags));
    if ((Flags & cu::EVENT_INTERPROCESS) && !(Flags & cu::EVENT_DISABLE_TIMING))
        return fail(cu::ERROR_INVALID_VALUE, "cuEventCreate: CU_EVENT_INTERPROCESS requires CU_EVENT_DISABLE_TIMING");
    Context* c = nullptr;
    if (CUresult r = require_context("cuEventCreate", &c)) return r;
    auto* e = new CUevent_st();
    e->flags = Flags;
    c->events.insert(e);
    *phEvent = e;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuEventDestroy_v2(CUevent hEvent) {
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    if (CUresult r = require_context("cuEventDestroy_v2", &c)) return r;
    if (CUresult r = check_event(*c, hEvent, "cuEventDestroy_v2")) return r;
    c->events.erase(hEvent);
    delete hEvent;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuEventRecord(CUevent hEvent, CUstream hStream) {
    static const char* api = "cuEventRecord";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    CUstream_st* s = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (CUresult r = check_event(*c, hEvent, api)) return r;
    if (CUresult r = resolve_stream(*c, hStream, &s, api)) return r;
    if (Capture* cap = s->capture) {
        if (cap->invalidated)
            return fail(cu::ERROR_STREAM_CAPTURE_INVALIDATED, std::string(api) + ": the capture was invalidated (" +
                                                                  cap->invalidated_by + ")");
        hEvent->captured_in = cap;
        hEvent->captured_stream = s;
        hEvent->captured_position = cap->graph->nodes.size();
        return cu::SUCCESS;
    }
    if (s->legacy) {
        if (CUresult r = check_legacy_use(*c, api)) return r;
    }
    hEvent->captured_in = nullptr;
    hEvent->recorded = true;
    hEvent->time = std::chrono::steady_clock::now();
    return cu::SUCCESS;
}

PDEMU_API CUresult cuEventSynchronize(CUevent hEvent) {
    static const char* api = "cuEventSynchronize";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (CUresult r = check_event(*c, hEvent, api)) return r;
    if (Capture* cap = hEvent->captured_in) {
        invalidate(*cap, "cuEventSynchronize was called on a captured event");
        return fail(cu::ERROR_CAPTURED_EVENT, std::string(api) + ": the event was last recorded in a capturing stream");
    }
    if (CUresult r = check_unsafe_call(*c, api)) return r;  // waiting on the host is "potentially unsafe" during capture
    return cu::SUCCESS;  // recorded work is complete (or the event was never recorded: nothing to wait for)
}

PDEMU_API CUresult cuEventElapsedTime_v2(float* pMilliseconds, CUevent hStart, CUevent hEnd) {
    static const char* api = "cuEventElapsedTime_v2";
    std::lock_guard lock(api_mutex());
    if (!pMilliseconds) return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": pMilliseconds is NULL");
    Context* c = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (CUresult r = check_event(*c, hStart, api)) return r;
    if (CUresult r = check_event(*c, hEnd, api)) return r;
    if (hStart->captured_in || hEnd->captured_in)
        return fail(cu::ERROR_CAPTURED_EVENT, std::string(api) + ": an event was last recorded in a capturing stream");
    if ((hStart->flags | hEnd->flags) & cu::EVENT_DISABLE_TIMING)
        return fail(cu::ERROR_INVALID_HANDLE, std::string(api) + ": an event was created with CU_EVENT_DISABLE_TIMING");
    if (!hStart->recorded || !hEnd->recorded)
        return fail(cu::ERROR_INVALID_HANDLE, std::string(api) + ": cuEventRecord has not been called on " +
                                                  (!hStart->recorded ? "the start event" : "the end event"));
    std::chrono::duration<double, std::milli> d = hEnd->time - hStart->time;
    *pMilliseconds = static_cast<float>(d.count());
    return cu::SUCCESS;
}
