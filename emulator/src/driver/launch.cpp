// cuLaunchKernel: the launch checks a GPU makes (grid, block and shared-memory limits, parameters), a copy of the
// parameter values (so a captured launch replays the values it was given), and Kernel::launch on the interpreter,
// whose LaunchStatus maps to the CUresult ptx.h names (faults sticky through enqueue).
#include "driver/memory.h"
#include "driver/module.h"
#include "driver/state.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <vector>
#include <cstdlib>
#include <cstring>
#include <thread>

using namespace pdemu;
using namespace pdemu::drv;

namespace {

constexpr uint32_t kMaxGridX = 2147483647u, kMaxGridYZ = 65535u;
constexpr uint32_t kMaxBlockXY = 1024u, kMaxBlockZ = 64u, kMaxThreads = 1024u;
constexpr uint64_t kOptInSharedBytes = 232448;        // 227 KiB
constexpr uint64_t kMaxLocalBytesPerThread = 512 * 1024;

std::atomic<unsigned long long> g_instructions{0};

RaceCheck racecheck_mode() {
    const char* v = std::getenv("PDEMU_RACECHECK");
    if (!v) return RaceCheck::off;
    std::string s(v);
    if (s == "report") return RaceCheck::report;
    if (s == "error") return RaceCheck::error;
    return RaceCheck::off;
}

unsigned host_threads() {
    if (const char* v = std::getenv("PDEMU_THREADS")) {
        int n = std::atoi(v);
        if (n > 0) return static_cast<unsigned>(n);
    }
    unsigned n = std::thread::hardware_concurrency();
    return n ? n : 1;
}

CUresult to_result(LaunchStatus s) {
    switch (s) {
        case LaunchStatus::ok: return cu::SUCCESS;
        case LaunchStatus::illegal_address: return cu::ERROR_ILLEGAL_ADDRESS;
        case LaunchStatus::misaligned_address: return cu::ERROR_MISALIGNED_ADDRESS;
        case LaunchStatus::illegal_instruction: return cu::ERROR_ILLEGAL_INSTRUCTION;
        case LaunchStatus::unsupported: return cu::ERROR_LAUNCH_FAILED;
        case LaunchStatus::race: return cu::ERROR_LAUNCH_FAILED;
        case LaunchStatus::invalid_value: return cu::ERROR_INVALID_VALUE;
        case LaunchStatus::out_of_resources: return cu::ERROR_LAUNCH_OUT_OF_RESOURCES;
    }
    return cu::ERROR_UNKNOWN;
}

std::string dims(uint32_t x, uint32_t y, uint32_t z) {
    return std::to_string(x) + "x" + std::to_string(y) + "x" + std::to_string(z);
}

/**
 * PDEMU_PROFILE=1: per kernel, the launches, thread-instructions and host time of every launch this process ran,
 * printed to stderr at exit, most expensive first (what to shrink when the emulator is slow on a workload).
 */
struct KernelProfile {
    uint64_t launches = 0, instructions = 0;
    std::chrono::steady_clock::duration time{};
};

std::map<std::string, KernelProfile>* profile_table() {
    static std::map<std::string, KernelProfile>* table = [] {
        const char* v = std::getenv("PDEMU_PROFILE");
        if (!v || !*v || std::string(v) == "0") return static_cast<std::map<std::string, KernelProfile>*>(nullptr);
        auto* t = new std::map<std::string, KernelProfile>();  // never destroyed: printed at exit
        std::atexit([] {
            auto* t = profile_table();
            std::vector<std::pair<std::string, KernelProfile>> rows(t->begin(), t->end());
            std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.time > b.second.time; });
            std::fprintf(stderr, "pdemu profile: %-28s %9s %14s %10s %8s\n", "kernel", "launches", "thread-instr", "ms", "M/s");
            for (auto& [name, p] : rows) {
                double ms = std::chrono::duration<double, std::milli>(p.time).count();
                std::fprintf(stderr, "pdemu profile: %-28s %9llu %14llu %10.1f %8.1f\n", name.c_str(),
                             (unsigned long long) p.launches, (unsigned long long) p.instructions, ms,
                             ms > 0 ? p.instructions / ms / 1e3 : 0.0);
            }
        });
        return t;
    }();
    return table;
}

void profile_launch(const std::string& kernel, uint64_t instructions, std::chrono::steady_clock::duration time) {
    auto* t = profile_table();
    if (!t) return;
    KernelProfile& p = (*t)[kernel];  // launches run under the driver's one lock
    p.launches++;
    p.instructions += instructions;
    p.time += time;
}

/** The kernel's parameter bytes, packed at the offsets the interpreter gives, from kernelParams or `extra`. */
CUresult pack_params(const Kernel& k, void** kernelParams, void** extra, std::vector<uint8_t>* out, const char* api) {
    const std::vector<Param>& params = k.params();
    size_t total = 0;
    for (const Param& p : params) total = std::max<size_t>(total, p.offset + p.size);
    out->assign(total, 0);
    if (kernelParams && extra)
        return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": both kernelParams and extra are given");
    if (extra) {
        const uint8_t* buffer = nullptr;
        const size_t* size = nullptr;
        for (void** e = extra; *e != cu::LAUNCH_PARAM_END; e += 2) {
            if (e[0] == cu::LAUNCH_PARAM_BUFFER_POINTER) buffer = static_cast<const uint8_t*>(e[1]);
            else if (e[0] == cu::LAUNCH_PARAM_BUFFER_SIZE) size = static_cast<const size_t*>(e[1]);
            else return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": unknown key in extra");
        }
        if (!buffer || !size)
            return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": extra needs CU_LAUNCH_PARAM_BUFFER_POINTER and _SIZE");
        // Stricter than "at least": a buffer of another size means the caller packed other parameter types than
        // the kernel's .param list declares, which a GPU would run with shifted or garbage values.
        if (*size != total)
            return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": extra's parameter buffer has " + std::to_string(*size) +
                                                     " bytes, but the .param list of kernel " + k.name() + " packs to " +
                                                     std::to_string(total));
        std::memcpy(out->data(), buffer, total);
        return cu::SUCCESS;
    }
    if (!params.empty() && !kernelParams)
        return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": kernel " + k.name() + " has " +
                                                 std::to_string(params.size()) + " parameters but kernelParams is NULL");
    for (size_t i = 0; i < params.size(); ++i) {
        if (!kernelParams[i])
            return fail(cu::ERROR_INVALID_VALUE, std::string(api) + ": kernelParams[" + std::to_string(i) + "] is NULL");
        std::memcpy(out->data() + params[i].offset, kernelParams[i], params[i].size);
    }
    return cu::SUCCESS;
}

}  // namespace

PDEMU_API CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                                  unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                                  unsigned int sharedMemBytes, CUstream hStream, void** kernelParams, void** extra) {
    static const char* api = "cuLaunchKernel";
    std::lock_guard lock(api_mutex());
    Context* c = nullptr;
    CUstream_st* s = nullptr;
    if (CUresult r = require_context(api, &c)) return r;
    if (!c->functions.count(f)) return fail(cu::ERROR_INVALID_HANDLE, std::string(api) + ": not a live function");
    if (CUresult r = resolve_stream(*c, hStream, &s, api)) return r;
    const Kernel& k = *f->kernel;
    std::string who = std::string(api) + "(" + k.name() + "): ";
    if (gridDimX == 0 || gridDimY == 0 || gridDimZ == 0 || gridDimX > kMaxGridX || gridDimY > kMaxGridYZ || gridDimZ > kMaxGridYZ)
        return fail(cu::ERROR_INVALID_VALUE, who + "grid " + dims(gridDimX, gridDimY, gridDimZ) +
                                                 " is outside 1..2147483647 x 1..65535 x 1..65535");
    if (blockDimX == 0 || blockDimY == 0 || blockDimZ == 0 || blockDimX > kMaxBlockXY || blockDimY > kMaxBlockXY ||
        blockDimZ > kMaxBlockZ)
        return fail(cu::ERROR_INVALID_VALUE, who + "block " + dims(blockDimX, blockDimY, blockDimZ) +
                                                 " is outside 1..1024 x 1..1024 x 1..64");
    uint64_t threads = uint64_t(blockDimX) * blockDimY * blockDimZ;
    if (threads > kMaxThreads)
        return fail(cu::ERROR_INVALID_VALUE, who + std::to_string(threads) + " threads per block (at most 1024)");
    if (threads > k.max_threads_per_block())
        return fail(cu::ERROR_LAUNCH_OUT_OF_RESOURCES, who + std::to_string(threads) + " threads per block, the kernel "
                                                           "allows at most " + std::to_string(k.max_threads_per_block()));
    uint64_t static_bytes = k.static_shared_bytes();
    if (static_bytes + sharedMemBytes > kOptInSharedBytes)
        return fail(cu::ERROR_INVALID_VALUE, who + std::to_string(static_bytes) + " static + " + std::to_string(sharedMemBytes) +
                                                 " dynamic shared bytes exceed the 232448 (227 KiB) per block");
    if (sharedMemBytes > static_cast<unsigned>(f->max_dynamic_shared))
        return fail(cu::ERROR_INVALID_VALUE, who + std::to_string(sharedMemBytes) + " dynamic shared bytes exceed the "
                                                 "kernel's limit of " + std::to_string(f->max_dynamic_shared) +
                                                 " (raise it with cuFuncSetAttribute MAX_DYNAMIC_SHARED_SIZE_BYTES)");
    if (k.local_bytes_per_thread() > kMaxLocalBytesPerThread)
        return fail(cu::ERROR_LAUNCH_OUT_OF_RESOURCES, who + "local memory per thread above 512 KiB");
    std::vector<uint8_t> bytes;
    if (CUresult r = pack_params(k, kernelParams, extra, &bytes, api)) return r;

    LaunchConfig config;
    config.grid = {gridDimX, gridDimY, gridDimZ};
    config.block = {blockDimX, blockDimY, blockDimZ};
    config.dynamic_shared_bytes = sharedMemBytes;
    config.racecheck = racecheck_mode();
    config.host_threads = host_threads();
    std::shared_ptr<pdemu::Module> keep = f->module->module;  // a captured launch keeps the module's code alive
    const Kernel* kernel = &k;
    std::string what = "kernel " + k.name() + " grid " + dims(gridDimX, gridDimY, gridDimZ) + " block " +
                       dims(blockDimX, blockDimY, blockDimZ);
    return enqueue(*c, s, what, [keep, kernel, config, bytes, what]() -> CUresult {
        std::vector<uint8_t> copy = bytes;  // the kernel sees its own copy of the values on every run
        std::vector<void*> pointers;
        for (const Param& p : kernel->params()) pointers.push_back(copy.data() + p.offset);
        auto start = std::chrono::steady_clock::now();
        LaunchResult res = kernel->launch(config, pointers.data(), memory());
        g_instructions.fetch_add(res.instructions, std::memory_order_relaxed);
        profile_launch(kernel->name(), res.instructions, std::chrono::steady_clock::now() - start);
        CUresult r = to_result(res.status);
        if (r != cu::SUCCESS) return fail(r, what + ": " + res.message);
        return cu::SUCCESS;
    }, api);
}

/** Thread-instructions executed by all kernel launches so far (for instructions-per-second measurements). */
PDEMU_API unsigned long long pdemuInstructionsExecuted(void) { return g_instructions.load(); }
