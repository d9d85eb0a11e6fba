// Test scaffolding for the PTX interpreter's tests: a DeviceMemory over malloc'd blocks (what the driver provides
// in the real library) and small helpers to load PTX and launch a kernel.
#pragma once

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "pdemu/ptx.h"

namespace ptxtest {

class TestMemory final : public pdemu::DeviceMemory {
public:
    explicit TestMemory(bool with_range = true) : with_range_(with_range) {}
    ~TestMemory() override { for (auto& [a, s] : live_) std::free(reinterpret_cast<void*>(a)); }
    uint64_t alloc(size_t size, size_t align = 256) {
        void* p = std::aligned_alloc(align, (size + align - 1) / align * align);
        std::memset(p, 0, size);
        std::lock_guard<std::mutex> l(mu_);
        live_[reinterpret_cast<uint64_t>(p)] = size;
        return reinterpret_cast<uint64_t>(p);
    }
    void free(uint64_t a) {
        std::lock_guard<std::mutex> l(mu_);
        std::free(reinterpret_cast<void*>(a));
        live_.erase(a);
    }
    template <class V> V* ptr(uint64_t a) { return reinterpret_cast<V*>(a); }
    void* resolve(uint64_t address, size_t size, bool, std::string* why) override {
        std::lock_guard<std::mutex> l(mu_);
        ++resolves;
        auto it = live_.upper_bound(address);
        if (it != live_.begin()) {
            --it;
            if (address >= it->first && address - it->first < it->second) {
                if (it->second - (address - it->first) >= size) return reinterpret_cast<void*>(address);
                if (why) *why = std::to_string(address + size - it->first - it->second) + " bytes past the end of a " +
                                std::to_string(it->second) + "-byte allocation";
                return nullptr;
            }
            uint64_t end = it->first + it->second;
            if (address >= end && address - end < 1024) {   // a red zone behind each allocation
                if (why) *why = std::to_string(address + size - end) + " bytes past the end of a " + std::to_string(it->second) +
                                "-byte allocation";
                return nullptr;
            }
        }
        if (why) *why = "not inside any allocation";
        return nullptr;
    }
    bool range(uint64_t address, uint64_t* base, uint64_t* size) override {
        if (!with_range_) return false;
        std::lock_guard<std::mutex> l(mu_);
        auto it = live_.upper_bound(address);
        if (it == live_.begin()) return false;
        --it;
        if (address - it->first >= it->second) return false;
        *base = it->first;
        *size = it->second;
        return true;
    }
    uint64_t allocate_module_variable(size_t size, size_t align) override { return alloc(size, std::max<size_t>(align, 16)); }
    void free_module_variable(uint64_t address) override { free(address); }
    size_t resolves = 0;

private:
    bool with_range_;
    std::mutex mu_;
    std::map<uint64_t, size_t> live_;
};

/** Packs kernel arguments as cuLaunchKernel's kernelParams. */
struct Args {
    std::vector<std::vector<uint8_t>> storage;
    std::vector<void*> ptrs;
    template <class V> Args& add(V v) {
        storage.emplace_back(sizeof(V));
        std::memcpy(storage.back().data(), &v, sizeof(V));
        return *this;
    }
    void* const* get() {
        ptrs.clear();
        for (auto& s : storage) ptrs.push_back(s.data());
        return ptrs.data();
    }
};

inline pdemu::LaunchResult run(const pdemu::Module& m, const char* kernel, pdemu::Dim3 grid, pdemu::Dim3 block,
                               Args& args, pdemu::DeviceMemory& mem, uint32_t dyn_smem = 0,
                               pdemu::RaceCheck rc = pdemu::RaceCheck::off, unsigned host_threads = 1) {
    pdemu::LaunchConfig cfg;
    cfg.grid = grid;
    cfg.block = block;
    cfg.dynamic_shared_bytes = dyn_smem;
    cfg.racecheck = rc;
    cfg.host_threads = host_threads;
    const pdemu::Kernel* k = m.kernel(kernel);
    if (!k) {
        pdemu::LaunchResult r;
        r.status = pdemu::LaunchStatus::invalid_value;
        r.message = std::string("no kernel ") + kernel;
        return r;
    }
    return k->launch(cfg, args.get(), mem);
}

/** A module header plus `body`. */
inline std::string ptx(const std::string& body) {
    return ".version 8.0\n.target sm_90\n.address_size 64\n\n" + body;
}

/** The PTX text in the file at `path` (empty if it cannot be read), loaded as load_ptx loads it. */
inline std::unique_ptr<pdemu::Module> load_ptx_file(const std::string& path, pdemu::DeviceMemory& mem, std::string* err) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return pdemu::load_ptx(s.str(), mem, err);
}

}  // namespace ptxtest
