// The registry of live objects behind one kind of opaque handle, shared by the cuBLASLt and cuDNN emulations.
#pragma once

#include <mutex>
#include <set>

namespace pdemu {

/** The registry of live objects of one kind (so destroyed or foreign handles are refused, not dereferenced). */
template <class T> struct Registry {
    std::mutex mutex;
    std::set<const void*> live;
    void add(const void* p) { std::lock_guard l(mutex); live.insert(p); }
    bool remove(const void* p) { std::lock_guard l(mutex); return live.erase(p) != 0; }
    bool has(const void* p) { std::lock_guard l(mutex); return live.count(p) != 0; }
};

}  // namespace pdemu
