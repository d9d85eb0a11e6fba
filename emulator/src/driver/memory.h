// Emulated device memory: every allocation is host memory (a CUdeviceptr is its host address) between two red zones,
// recorded in a table of live allocations that every pointer argument and every kernel access is checked against.
#pragma once

#include <pdemu/ptx.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <shared_mutex>
#include <string>

namespace pdemu::drv {

class MemoryTable final : public pdemu::DeviceMemory {
public:
    enum class Kind { device, module_variable, pinned_host };

    /** 0 on success; otherwise `why` says what failed (out of memory: over the limit, or the host refused). */
    uint64_t allocate(size_t size, Kind kind, std::string* why);
    /** Frees a live allocation of `kind` that starts at `address`; false (with `why`) when there is none. A damaged
     *  red zone is still freed and described in `corruption` (empty when intact). */
    bool release(uint64_t address, Kind kind, std::string* why, std::string* corruption);
    /** Frees every allocation (primary context reset). */
    void release_all();

    void* resolve(uint64_t address, size_t size, bool write, std::string* why) override;
    bool range(uint64_t address, uint64_t* base, uint64_t* size) override;
    uint64_t allocate_module_variable(size_t size, size_t align) override;
    void free_module_variable(uint64_t address) override;

    /** A host range that starts inside a cuMemHostAlloc buffer must end inside it; plain host memory passes. */
    bool host_range_ok(const void* host, size_t size, std::string* why) const;
    /** Whether `address` is the start of a live pinned (cuMemHostAlloc) buffer. */
    bool is_pinned(const void* address) const;

    size_t used() const;
    size_t limit() const { return limit_; }
    static constexpr size_t kRedZone = 256;  // bytes before and (at least) after every device allocation
    static constexpr uint8_t kRedZoneByte = 0xFD;

    MemoryTable();

private:
    struct Allocation {
        uint64_t base = 0;
        size_t size = 0;
        void* raw = nullptr;
        size_t raw_size = 0;
        Kind kind = Kind::device;
    };
    std::string describe(uint64_t address, size_t size) const;  // caller holds the lock
    const Allocation* find(uint64_t address) const;              // the allocation whose span contains address

    mutable std::shared_mutex mutex_;
    std::map<uint64_t, Allocation> live_;
    std::map<uint64_t, size_t> freed_;  // recently freed device ranges, for "use after free" messages
    std::deque<uint64_t> freed_order_;
    size_t used_ = 0;
    size_t limit_ = 0;
    std::atomic<uint64_t> generation_{1};  // bumped by every free; invalidates the per-thread resolve cache
};

MemoryTable& memory();

/** The memory reported as the device's total (141 GB, or PDEMU_MEMORY_LIMIT when set). */
size_t device_total_memory();

}  // namespace pdemu::drv
