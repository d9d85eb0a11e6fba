// The seam between the emulated driver (src/driver) and the PTX interpreter (src/ptx).
//
// The driver owns device memory, streams, modules-as-handles and launch checks that need driver state
// (cuFuncSetAttribute's opt-in shared memory, the sticky context error). The interpreter owns PTX: parsing a
// module's text, its kernels' .param lists, module-scope variables, and executing a grid.
//
// Device addresses are host addresses: a CUdeviceptr is the host address of the emulated allocation (with red
// zones around it), so a resolved access is a plain pointer. Every access still goes through DeviceMemory::resolve,
// which answers whether [address, address + size) lies inside one live allocation of device memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pdemu {

struct Dim3 {
    uint32_t x = 1, y = 1, z = 1;
};

/** Device memory as the interpreter sees it; implemented by the driver. Must be safe to call from several threads. */
class DeviceMemory {
public:
    virtual ~DeviceMemory() = default;
    /**
     * Host pointer for the device bytes [address, address + size), or nullptr when they are not all inside one live
     * device allocation (out of bounds, freed, never allocated, host memory). `why` (may be null) then receives a
     * one-line description such as "8 bytes past the end of a 1024-byte allocation at 0x7f.." or "freed memory".
     */
    virtual void* resolve(uint64_t address, size_t size, bool write, std::string* why) = 0;
    /** Allocates device memory for a module-scope .global/.const variable (zero-filled); 0 when out of memory. */
    virtual uint64_t allocate_module_variable(size_t size, size_t align) = 0;
    virtual void free_module_variable(uint64_t address) = 0;
    /**
     * Added for the interpreter's per-warp address cache: when `address` lies inside a live allocation, its whole
     * range [*base, *base + *size) (all of which resolve() would accept). The default answers false, and then every
     * access goes through resolve(). Must be safe to call from several threads.
     */
    virtual bool range(uint64_t address, uint64_t* base, uint64_t* size) { return false; }
};

/** How a launch ended. The driver maps each to its CUresult (in brackets) and makes the faults sticky. */
enum class LaunchStatus {
    ok,
    illegal_address,      // global/local/shared access outside valid memory         [CUDA_ERROR_ILLEGAL_ADDRESS 700]
    misaligned_address,   // access not aligned to its size (vector loads included)  [CUDA_ERROR_MISALIGNED_ADDRESS 716]
    illegal_instruction,  // e.g. trap, or .sync collective with inconsistent mask   [CUDA_ERROR_ILLEGAL_INSTRUCTION 715]
    unsupported,          // an instruction/feature the interpreter does not know    [CUDA_ERROR_LAUNCH_FAILED 719]
    race,                 // racecheck found a shared-memory hazard (racecheck mode "error") [CUDA_ERROR_LAUNCH_FAILED 719]
    invalid_value,        // bad launch configuration/parameters                     [CUDA_ERROR_INVALID_VALUE 1]
    out_of_resources,     // too many threads/registers/shared memory for a block    [CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES 701]
};

struct LaunchResult {
    LaunchStatus status = LaunchStatus::ok;
    std::string message;           // empty when ok; otherwise one line naming kernel, block, thread, instruction text
    uint64_t instructions = 0;     // thread-instructions executed (for the instructions-per-second benchmark)
    uint32_t races = 0;            // hazards found by racecheck (reported whatever the mode)
};

enum class RaceCheck { off, report, error };  // report: print each hazard to stderr; error: also fail the launch

struct LaunchConfig {
    Dim3 grid, block;
    uint32_t dynamic_shared_bytes = 0;
    RaceCheck racecheck = RaceCheck::off;
    unsigned host_threads = 1;     // blocks may run in parallel on this many host threads
};

struct Param {
    std::string name;
    uint32_t size = 0;       // bytes
    uint32_t align = 0;      // bytes
    uint32_t offset = 0;     // within the packed parameter buffer (each param at its alignment)
};

class Kernel {
public:
    virtual ~Kernel() = default;
    virtual const std::string& name() const = 0;
    virtual const std::vector<Param>& params() const = 0;
    virtual uint32_t static_shared_bytes() const = 0;   // .shared declarations of the kernel and the module it uses
    virtual uint32_t local_bytes_per_thread() const = 0;
    virtual uint32_t max_threads_per_block() const = 0; // from .maxntid, else 1024
    /**
     * Runs the whole grid to completion (functional: no timing). `params[i]` points to the value of parameter i,
     * exactly as cuLaunchKernel's kernelParams. Shape limits and the shared-memory opt-in are checked by the driver
     * before this is called; everything found while running (faults, unknown instructions, races) is reported here.
     */
    virtual LaunchResult launch(const LaunchConfig& config, void* const* params, DeviceMemory& memory) const = 0;
};

class Module {
public:
    virtual ~Module() = default;
    /** The kernel (.entry) with this name, or nullptr. */
    virtual const Kernel* kernel(std::string_view name) const = 0;
    virtual std::vector<std::string> kernel_names() const = 0;
    /** Added: device address and size of a module-scope .global/.const variable (cuModuleGetGlobal), 0 if none. */
    virtual uint64_t global(std::string_view name, size_t* size) const { return 0; }
};

/**
 * Parses PTX text (what `nvcc -ptx` writes, `.version` 8.x/9.x, `.target sm_90`), allocating its module-scope
 * variables through `memory`. On failure returns nullptr and puts "line N: what is wrong: <the line's text>" into
 * `error`. An instruction the interpreter cannot execute is an error here (with its text), not at launch.
 */
std::unique_ptr<Module> load_ptx(std::string_view ptx, DeviceMemory& memory, std::string* error);

}  // namespace pdemu
