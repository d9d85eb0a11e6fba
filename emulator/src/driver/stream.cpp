// Streams (work runs synchronously at enqueue, so they are always idle), cuStreamWaitEvent (also how a stream forks
// into and joins back out of a capture) and stream capture begin/end with the driver's capture rules.
#include "driver/state.h"

using namespace pdemu;
using namespace pdemu::drv;

PDEMU_API CUresult cuStreamCreate(CUstream* phStream, unsigned int Flags) {
    std::lock_guard lock(api_mutex());
    if (!phStream) return fail(cu::ERROR_INVALID_VALUE, "cuStreamCreate: phStream is NULL");
    if (Flags & ~cu::STREAM_NON_BLOCKING) return fail(cu::ERROR_INVALID_VALUE, "cuStreamCreate: unknown Flags " + hex(Flags));
    Context* c = nullptr;
    if (CUresult r = require_context("cuStreamCreate", &c)) return r;
    auto* s = new CUstream_st();
    s->flags = Flags;
    c->streams.insert(s);
    *phStream = s;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuStreamDestroy_v2(CUstream hStream) {
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    if (CUresult r = require_context("cuStreamDestroy_v2", &c)) return r;
    if (!c->streams.count(hStream))
        return fail(cu::ERROR_INVALID_HANDLE, "cuStreamDestroy_v2: " + hex(reinterpret_cast<uint64_t>(hStream)) +
                                                  " is not a live stream (the legacy stream cannot be destroyed)");
    if (Capture* cap = hStream->capture) {
        invalidate(*cap, "a capturing stream was destroyed");
        if (cap->origin == hStream) {
            end_capture(*c, cap);
        } else {
            std::erase(cap->members, hStream);
            cap->joined.erase(hStream);
        }
    }
    c->streams.erase(hStream);
    delete hStream;
    return cu::SUCCESS;
}

PDEMU_API CUresult cuStreamSynchronize(CUstream hStream) {
    static const char* api = "cuStreamSynchronize";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    CUstream_st* s = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (CUresult r = resolve_stream(*c, hStream, &s, api)) return r;
    if (s->legacy) return check_legacy_use(*c, api);
    if (Capture* cap = s->capture) {
        invalidate(*cap, "cuStreamSynchronize was called on a capturing stream");
        return fail(cu::ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamSynchronize: the stream is being captured");
    }
    return cu::SUCCESS;
}

PDEMU_API CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags) {
    static const char* api = "cuStreamWaitEvent";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    CUstream_st* s = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (CUresult r = resolve_stream(*c, hStream, &s, api)) return r;
    if (!c->events.count(hEvent)) return fail(cu::ERROR_INVALID_HANDLE, "cuStreamWaitEvent: not a live event");
    if (Flags & ~cu::EVENT_WAIT_EXTERNAL) return fail(cu::ERROR_INVALID_VALUE, "cuStreamWaitEvent: unknown Flags " + hex(Flags));
    Capture* ecap = hEvent->captured_in;
    Capture* scap = s->capture;
    if (!ecap) {
        if (s->legacy) return check_legacy_use(*c, api);
        if (scap && hEvent->recorded && !(Flags & cu::EVENT_WAIT_EXTERNAL)) {
            invalidate(*scap, "a captured stream waited on an event recorded outside the capture");
            return fail(cu::ERROR_STREAM_CAPTURE_ISOLATION,
                        "cuStreamWaitEvent: the capturing stream would depend on uncaptured work (the event was "
                        "recorded outside this capture)");
        }
        return cu::SUCCESS;  // the recorded work is complete: streams execute synchronously
    }
    if (ecap->invalidated)
        return fail(cu::ERROR_STREAM_CAPTURE_INVALIDATED, std::string(api) + ": the event's capture was invalidated (" +
                                                              ecap->invalidated_by + ")");
    if (scap == ecap) {  // a dependency inside one capture; a join when the origin waits on a forked stream's work
        CUstream_st* from = hEvent->captured_stream;
        if (s == ecap->origin && from != ecap->origin && hEvent->captured_position >= ecap->last_node[from])
            ecap->joined.insert(from);
        return cu::SUCCESS;
    }
    if (scap) {
        invalidate(*scap, "two captures were merged");
        invalidate(*ecap, "two captures were merged");
        return fail(cu::ERROR_STREAM_CAPTURE_MERGE, "cuStreamWaitEvent: the stream and the event belong to different captures");
    }
    if (s->legacy) {
        invalidate(*ecap, "the legacy stream waited on a captured event");
        return fail(cu::ERROR_STREAM_CAPTURE_IMPLICIT, "cuStreamWaitEvent: the legacy stream cannot join a capture");
    }
    // Fork: the stream joins the event's capture; until it has new work it counts as joined.
    s->capture = ecap;
    ecap->members.push_back(s);
    ecap->last_node[s] = hEvent->captured_position;
    ecap->joined.insert(s);
    return cu::SUCCESS;
}

PDEMU_API CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode) {
    static const char* api = "cuStreamBeginCapture_v2";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    CUstream_st* s = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (mode != cu::CAPTURE_MODE_GLOBAL && mode != cu::CAPTURE_MODE_THREAD_LOCAL && mode != cu::CAPTURE_MODE_RELAXED)
        return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": unknown capture mode " + std::to_string(mode));
    if (CUresult r = resolve_stream(*c, hStream, &s, api)) return r;
    if (s->legacy)
        return fail(cu::ERROR_STREAM_CAPTURE_UNSUPPORTED, std::string(api) + ": the legacy (NULL) stream cannot be captured");
    if (s->capture) return fail(cu::ERROR_ILLEGAL_STATE, std::string(api) + ": the stream is already being captured");
    auto cap = std::make_unique<Capture>();
    cap->mode = mode;
    cap->thread = std::this_thread::get_id();
    cap->origin = s;
    cap->members.push_back(s);
    s->capture = cap.get();
    c->captures.push_back(std::move(cap));
    return cu::SUCCESS;
}

PDEMU_API CUresult cuStreamEndCapture(CUstream hStream, CUgraph* phGraph) {
    static const char* api = "cuStreamEndCapture";
    std::lock_guard lock(api_mutex());
    if (!phGraph) return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": phGraph is NULL");
    Context* c = nullptr;
    CUstream_st* s = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (CUresult r = resolve_stream(*c, hStream, &s, api)) return r;
    Capture* cap = s->capture;
    if (!cap) return fail(cu::ERROR_ILLEGAL_STATE, std::string(api) + ": the stream is not being captured");
    if (cap->origin != s) {
        invalidate(*cap, "cuStreamEndCapture was called on a stream forked into the capture");
        return fail(cu::ERROR_STREAM_CAPTURE_UNMATCHED, std::string(api) + ": the capture began on another stream");
    }
    if (cap->mode != cu::CAPTURE_MODE_RELAXED && cap->thread != std::this_thread::get_id())
        return fail(cu::ERROR_STREAM_CAPTURE_WRONG_THREAD,
                    std::string(api) + ": a GLOBAL or THREAD_LOCAL capture must be ended by the thread that began it");
    *phGraph = nullptr;
    if (cap->invalidated) {
        std::string why = cap->invalidated_by;
        end_capture(*c, cap);
        return fail(cu::ERROR_STREAM_CAPTURE_INVALIDATED, std::string(api) + ": the capture was invalidated: " + why);
    }
    for (CUstream_st* m : cap->members) {
        if (m != cap->origin && !cap->joined.count(m)) {
            end_capture(*c, cap);
            return fail(cu::ERROR_STREAM_CAPTURE_UNJOINED, std::string(api) + ": a stream forked into the capture has "
                                                                              "work the origin stream never waited for");
        }
    }
    CUgraph_st* g = end_capture(*c, cap).release();
    c->graphs.insert(g);
    *phGraph = g;
    return cu::SUCCESS;
}
