#include "driver/memory.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace pdemu::drv {
namespace {

constexpr size_t kDefaultTotal = 141'000'000'000ull;  // an H200's 141 GB

size_t parse_limit(const char* text) {
    if (!text || !*text) return 0;
    char* end = nullptr;
    double v = std::strtod(text, &end);
    if (end == text || v <= 0) return 0;
    switch (*end) {
        case 'k': case 'K': v *= 1024.0; break;
        case 'm': case 'M': v *= 1024.0 * 1024; break;
        case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
        case 't': case 'T': v *= 1024.0 * 1024 * 1024 * 1024; break;
        default: break;
    }
    return static_cast<size_t>(v);
}

std::string hex(uint64_t v) {
    char b[32];
    std::snprintf(b, sizeof b, "0x%" PRIx64, v);
    return b;
}

struct ResolveCache {
    const void* table = nullptr;
    uint64_t generation = 0, begin = 0, end = 0;
};
thread_local ResolveCache t_cache;

}  // namespace

size_t device_total_memory() {
    static const size_t total = [] {
        size_t l = parse_limit(std::getenv("PDEMU_MEMORY_LIMIT"));
        return l ? l : kDefaultTotal;
    }();
    return total;
}

MemoryTable::MemoryTable() : limit_(device_total_memory()) {}

MemoryTable& memory() {
    static MemoryTable* table = new MemoryTable();  // never destroyed: kernels may still run at exit
    return *table;
}

uint64_t MemoryTable::allocate(size_t size, Kind kind, std::string* why) {
    std::unique_lock lock(mutex_);
    bool device = kind != Kind::pinned_host;
    size_t rounded = (size + 255) / 256 * 256;
    if (device && (rounded < size || rounded > limit_ - used_)) {
        if (why) *why = "out of device memory: " + std::to_string(size) + " bytes requested, " +
                        std::to_string(limit_ - used_) + " of " + std::to_string(limit_) + " free";
        return 0;
    }
    size_t raw_size = device ? kRedZone + rounded + kRedZone : rounded;
    void* raw = nullptr;
    if (posix_memalign(&raw, 256, raw_size) != 0 || raw == nullptr) {
        if (why) *why = "the host could not provide " + std::to_string(raw_size) + " bytes";
        return 0;
    }
    Allocation a;
    a.raw = raw;
    a.raw_size = raw_size;
    a.size = size;
    a.kind = kind;
    a.base = reinterpret_cast<uint64_t>(raw) + (device ? kRedZone : 0);
    if (device) {
        std::memset(raw, kRedZoneByte, kRedZone);
        std::memset(reinterpret_cast<uint8_t*>(a.base) + size, kRedZoneByte, raw_size - kRedZone - size);
        if (kind == Kind::module_variable) std::memset(reinterpret_cast<void*>(a.base), 0, size);
        used_ += rounded;
    }
    freed_.erase(a.base);
    live_[a.base] = a;
    return a.base;
}

bool MemoryTable::release(uint64_t address, Kind kind, std::string* why, std::string* corruption) {
    std::unique_lock lock(mutex_);
    auto it = live_.find(address);
    if (it == live_.end() || it->second.kind != kind) {
        if (why) *why = describe(address, 1);
        return false;
    }
    Allocation a = it->second;
    live_.erase(it);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    if (corruption) corruption->clear();
    if (kind != Kind::pinned_host) {
        const uint8_t* front = static_cast<const uint8_t*>(a.raw);
        const uint8_t* back = reinterpret_cast<const uint8_t*>(a.base) + a.size;
        size_t back_len = a.raw_size - kRedZone - a.size;
        size_t bad_front = 0, bad_back = 0;
        for (size_t i = 0; i < kRedZone; ++i) bad_front += front[i] != kRedZoneByte;
        for (size_t i = 0; i < back_len; ++i) bad_back += back[i] != kRedZoneByte;
        if ((bad_front || bad_back) && corruption) {
            *corruption = "red zone of the " + std::to_string(a.size) + "-byte allocation at " + hex(a.base) +
                          " was overwritten (" + std::to_string(bad_front) + " bytes before it, " +
                          std::to_string(bad_back) + " bytes after it): something wrote outside the allocation " +
                          "without going through the emulator's checks (a host write through the device address?)";
        }
        used_ -= (a.size + 255) / 256 * 256;
        freed_[a.base] = a.size;
        freed_order_.push_back(a.base);
        while (freed_order_.size() > 4096) {
            freed_.erase(freed_order_.front());
            freed_order_.pop_front();
        }
    }
    std::free(a.raw);
    return true;
}

void MemoryTable::release_all() {
    std::unique_lock lock(mutex_);
    for (auto& [base, a] : live_) std::free(a.raw);
    live_.clear();
    freed_.clear();
    freed_order_.clear();
    used_ = 0;
    generation_.fetch_add(1, std::memory_order_acq_rel);
}

const MemoryTable::Allocation* MemoryTable::find(uint64_t address) const {
    auto it = live_.upper_bound(address);
    if (it == live_.begin()) return nullptr;
    --it;
    const Allocation& a = it->second;
    uint64_t span_end = a.kind == Kind::pinned_host ? a.base + a.size : reinterpret_cast<uint64_t>(a.raw) + a.raw_size;
    return address < span_end ? &a : nullptr;
}

std::string MemoryTable::describe(uint64_t address, size_t size) const {
    std::string range = "[" + hex(address) + ", +" + std::to_string(size) + ")";
    // Nearest live allocation at or below the address, and the one above (for "before the start").
    auto it = live_.upper_bound(address);
    if (it != live_.end() && it->first - address <= kRedZone && it->second.kind != Kind::pinned_host)
        return range + " starts " + std::to_string(it->first - address) + " bytes before the " +
               std::to_string(it->second.size) + "-byte allocation at " + hex(it->first);
    if (it != live_.begin()) {
        const Allocation& a = std::prev(it)->second;
        if (address < a.base + a.size) {
            if (a.kind == Kind::pinned_host)
                return range + " is pinned host memory (cuMemHostAlloc buffer at " + hex(a.base) + "), not device memory";
            return range + " ends " + std::to_string(address + size - (a.base + a.size)) + " bytes past the end of the " +
                   std::to_string(a.size) + "-byte allocation at " + hex(a.base);
        }
        if (a.kind != Kind::pinned_host && address < a.base + a.size + kRedZone + 256)
            return range + " is " + std::to_string(address - (a.base + a.size)) + " bytes past the end of the " +
                   std::to_string(a.size) + "-byte allocation at " + hex(a.base);
    }
    auto f = freed_.upper_bound(address);
    if (f != freed_.begin()) {
        --f;
        if (address < f->first + f->second)
            return range + " is in freed memory (the " + std::to_string(f->second) + "-byte allocation at " +
                   hex(f->first) + " was freed)";
    }
    if (address == 0) return range + " is a null pointer";
    return range + " is not device memory (no allocation contains " + hex(address) + ")";
}

void* MemoryTable::resolve(uint64_t address, size_t size, bool write, std::string* why) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    ResolveCache& c = t_cache;
    if (c.table == this && c.generation == gen && address >= c.begin && address + size <= c.end && address + size >= address)
        return reinterpret_cast<void*>(address);
    std::shared_lock lock(mutex_);
    auto it = live_.upper_bound(address);
    if (it != live_.begin()) {
        const Allocation& a = std::prev(it)->second;
        if (a.kind != Kind::pinned_host && address >= a.base && address + size >= address && address + size <= a.base + a.size) {
            c = {this, generation_.load(std::memory_order_acquire), a.base, a.base + a.size};
            return reinterpret_cast<void*>(address);
        }
    }
    if (why) *why = describe(address, size);
    return nullptr;
}

bool MemoryTable::range(uint64_t address, uint64_t* base, uint64_t* size) {
    std::shared_lock lock(mutex_);
    auto it = live_.upper_bound(address);
    if (it == live_.begin()) return false;
    const Allocation& a = std::prev(it)->second;
    if (a.kind == Kind::pinned_host || address < a.base || address >= a.base + a.size) return false;
    *base = a.base;
    *size = a.size;
    return true;
}

uint64_t MemoryTable::allocate_module_variable(size_t size, size_t align) {
    return allocate(size ? size : 1, Kind::module_variable, nullptr);  // 256-byte aligned, enough for any PTX .align
}

void MemoryTable::free_module_variable(uint64_t address) {
    release(address, Kind::module_variable, nullptr, nullptr);
}

bool MemoryTable::host_range_ok(const void* host, size_t size, std::string* why) const {
    std::shared_lock lock(mutex_);
    uint64_t a = reinterpret_cast<uint64_t>(host);
    const Allocation* al = find(a);
    if (!al) return true;  // pageable host memory: the driver accepts it
    if (al->kind != Kind::pinned_host) {
        if (why) *why = "host pointer " + hex(a) + " is device memory (an allocation at " + hex(al->base) + ")";
        return false;
    }
    if (a + size > al->base + al->size) {
        if (why) *why = "host range [" + hex(a) + ", +" + std::to_string(size) + ") ends " +
                        std::to_string(a + size - al->base - al->size) + " bytes past the end of the " +
                        std::to_string(al->size) + "-byte pinned buffer at " + hex(al->base);
        return false;
    }
    return true;
}

bool MemoryTable::is_pinned(const void* address) const {
    std::shared_lock lock(mutex_);
    auto it = live_.find(reinterpret_cast<uint64_t>(address));
    return it != live_.end() && it->second.kind == Kind::pinned_host;
}

size_t MemoryTable::used() const {
    std::shared_lock lock(mutex_);
    return used_;
}

}  // namespace pdemu::drv
