// Runs a grid: blocks spread over host threads, warps of a block run one after another until each finishes or
// waits at bar.sync, threads of a warp scheduled by min-PC reconvergence (the group of runnable lanes sharing the
// lowest PC runs next; structured code reconverges where the paths meet).
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "ptx/ir.h"
#include "ptx/module.h"
#include "ptx/race.h"

namespace pdemu::ptx {

uint32_t KernelImpl::max_threads_per_block() const {
    auto& k = *code_;
    if (k.maxntid[0]) return std::min<uint32_t>(1024, k.maxntid[0] * k.maxntid[1] * k.maxntid[2]);
    if (k.reqntid[0]) return std::min<uint32_t>(1024, k.reqntid[0] * k.reqntid[1] * k.reqntid[2]);
    return 1024;
}

namespace {

std::string dim(const Dim3& d) {
    return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}

Dim3 thread_of(const Block& b, uint32_t linear) {
    Dim3 t;
    t.x = linear % b.ntid.x;
    t.y = linear / b.ntid.x % b.ntid.y;
    t.z = linear / (b.ntid.x * b.ntid.y);
    return t;
}

}  // namespace

void fault(Warp& w, int lane, LaunchStatus status, const std::string& what) {
    Block& b = *w.block;
    if (b.faulted) return;
    b.faulted = true;
    b.fault.status = status;
    std::string msg = "kernel " + b.k->name + ", block " + dim(b.ctaid) + ", thread " +
                      dim(thread_of(b, w.index * 32 + static_cast<uint32_t>(lane))) + ": " + what;
    if (w.cur) msg += ": " + b.k->texts[w.cur->text] + " (line " + std::to_string(w.cur->line) + ")";
    b.fault.message = msg;
}

std::string thread_name(const Block& b, uint32_t linear) { return "thread " + dim(thread_of(b, linear)) + " of block " + dim(b.ctaid); }

namespace {

// Population count without a libgcc call (the baseline x86-64 target has no popcnt instruction).
inline uint32_t lanes_in(uint32_t v) {
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    return (((v + (v >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24;
}

// Make the current group's lanes individually scheduled again.
inline void dissolve(Warp& w) {
    for_lanes(w.group, [&](int l) { w.pc[l] = w.gpc; });
    w.group = 0;
}

bool reschedule(Warp& w) {
    uint32_t run = w.live & ~w.blocked;
    if (!run) return false;
    uint32_t mn = 0xFFFFFFFFu;
    for_lanes(run, [&](int l) { mn = std::min(mn, w.pc[l]); });
    uint32_t group = 0, other = 0xFFFFFFFFu;
    for_lanes(run, [&](int l) {
        if (w.pc[l] == mn) group |= 1u << l;
        else other = std::min(other, w.pc[l]);
    });
    w.group = group;
    w.gpc = mn;
    w.other_min = other;
    return true;
}

inline void next(Warp& w) {
    if (++w.gpc >= w.other_min) dissolve(w);
}

// Runs the warp until all its live lanes wait at a barrier or have exited (or a fault).
void run_warp(Warp& w) {
    const Inst* code = w.k->code.data();
    const uint64_t* R = w.R;
    Block& b = *w.block;
    uint64_t count = 0;
    for (;;) {
        if (!w.group && !reschedule(w)) break;
        const Inst& in = code[w.gpc];
        uint32_t m = w.group;
        count += lanes_in(m);
        if (in.guard != kNoReg) {
            const uint64_t* p = R + static_cast<size_t>(in.guard) * 32;
            uint32_t pm = 0;
            for_lanes(m, [&](int l) { pm |= static_cast<uint32_t>(p[l] & 1) << l; });
            m = in.guard_neg ? (m & ~pm) : (m & pm);
        }
        switch (in.ctl) {
            case Ctl::none:
                if (m) {
                    w.cur = &in;
                    in.fn(w, in, m);
                    if (b.faulted) { w.instructions += count; return; }
                }
                next(w);
                break;
            case Ctl::bra:
                if (m == w.group) {
                    w.gpc = in.target;
                    if (w.gpc >= w.other_min) dissolve(w);
                } else if (m == 0) {
                    next(w);
                } else {
                    for_lanes(m, [&](int l) { w.pc[l] = in.target; });
                    for_lanes(w.group & ~m, [&](int l) { w.pc[l] = w.gpc + 1; });
                    w.group = 0;
                }
                break;
            case Ctl::exit:
                w.live &= ~m;
                w.group &= ~m;
                if (w.group) next(w);
                break;
            case Ctl::barrier:
                for_lanes(m, [&](int l) { w.pc[l] = w.gpc; });
                w.blocked |= m;
                w.group &= ~m;
                if (w.group) next(w);
                break;
            case Ctl::trap:
                if (m) {
                    w.cur = &in;
                    fault(w, std::countr_zero(m), LaunchStatus::illegal_instruction, "trap");
                    w.instructions += count;
                    return;
                }
                next(w);
                break;
        }
    }
    w.instructions += count;
}

struct Worker {
    const KernelCode& k;
    uint32_t nwarps, threads;
    std::vector<uint64_t> regs;
    std::vector<uint8_t> local, shared;
    std::vector<Warp> warps;
    Block block;
    RaceState race;

    uint64_t kernel_id;
    Dim3 block_dim;
    uint32_t dyn_bytes;

    Worker(const KernelCode& kc, const LaunchConfig& cfg) : k(kc), kernel_id(kc.id), block_dim(cfg.block), dyn_bytes(cfg.dynamic_shared_bytes) {
        threads = cfg.block.x * cfg.block.y * cfg.block.z;
        nwarps = (threads + 31) / 32;
        regs.assign(static_cast<size_t>(nwarps) * k.nregs * 32, 0);
        local.assign(static_cast<size_t>(nwarps) * 32 * k.local_bytes, 0);
        uint32_t dyn_base = (k.static_shared + k.dyn_align - 1) / k.dyn_align * k.dyn_align;
        uint32_t total = cfg.dynamic_shared_bytes ? dyn_base + cfg.dynamic_shared_bytes : k.static_shared;
        shared.assign(total + 16, 0);
        block.k = &k;
        block.shared = shared.data();
        block.shared_bytes = total;
        block.ntid = cfg.block;
        warps.resize(nwarps);
        for (uint32_t wi = 0; wi < nwarps; ++wi) {
            Warp& w = warps[wi];
            w.R = regs.data() + static_cast<size_t>(wi) * k.nregs * 32;
            w.local = local.data() + static_cast<size_t>(wi) * 32 * k.local_bytes;
            w.local_bytes = k.local_bytes;
            w.block = &block;
            w.k = &k;
            w.index = wi;
            uint32_t n = std::min<uint32_t>(32, threads - wi * 32);
            w.lanes = n == 32 ? kFullMask : (1u << n) - 1;
            for (auto& [r, v] : k.consts) for (int l = 0; l < 32; ++l) reg(w, r)[l] = v;
            for (uint32_t l = 0; l < 32; ++l) {
                Dim3 t = thread_of(block, wi * 32 + l);
                auto set = [&](uint32_t s, uint64_t v) { reg(w, s)[l] = v; };
                set(sp_tid_x, t.x); set(sp_tid_y, t.y); set(sp_tid_z, t.z);
                set(sp_ntid_x, cfg.block.x); set(sp_ntid_y, cfg.block.y); set(sp_ntid_z, cfg.block.z);
                set(sp_laneid, l); set(sp_warpid, wi); set(sp_nwarpid, nwarps);
                set(sp_lanemask_eq, 1u << l); set(sp_lanemask_lt, (1u << l) - 1);
                set(sp_lanemask_le, l == 31 ? kFullMask : (2u << l) - 1);
                set(sp_lanemask_gt, l == 31 ? 0 : ~((2u << l) - 1)); set(sp_lanemask_ge, ~((1u << l) - 1));
                set(sp_smid, 0); set(sp_nsmid, 1); set(sp_gridid, 1);
                set(sp_dynamic_smem_size, cfg.dynamic_shared_bytes); set(sp_total_smem_size, total);
                set(sp_dyn_smem_base, dyn_base); set(sp_zero, 0); set(sp_sink, 0);
            }
        }
    }

    bool fits(const KernelCode& kc, const LaunchConfig& cfg) const {
        return kernel_id == kc.id && block_dim.x == cfg.block.x && block_dim.y == cfg.block.y && block_dim.z == cfg.block.z &&
               dyn_bytes == cfg.dynamic_shared_bytes;
    }

    // Per launch: the grid, parameters, memory (its allocation cache starts empty: memory may have changed), racecheck.
    void bind(const LaunchConfig& cfg, const uint8_t* params, DeviceMemory& mem, RaceReport* report) {
        block.memory = &mem;
        block.params = params;
        block.has_range = true;
        race.report = report;
        block.race = report ? &race : nullptr;
        for (auto& w : warps) {
            w.cache_lo = 1;
            w.cache_len = 0;
            for (int l = 0; l < 32; ++l) {
                reg(w, sp_nctaid_x)[l] = cfg.grid.x; reg(w, sp_nctaid_y)[l] = cfg.grid.y; reg(w, sp_nctaid_z)[l] = cfg.grid.z;
            }
        }
    }

    // Runs one block; false on a fault (block.fault).
    bool run(uint32_t bx, uint32_t by, uint32_t bz, uint64_t& instructions) {
        block.ctaid = {bx, by, bz};
        block.faulted = false;
        std::memset(shared.data(), 0, shared.size());
        if (!local.empty()) std::memset(local.data(), 0, local.size());
        if (block.race) race.reset(block.shared_bytes);
        for (auto& w : warps) {
            for (int l = 0; l < 32; ++l) {
                reg(w, sp_ctaid_x)[l] = bx; reg(w, sp_ctaid_y)[l] = by; reg(w, sp_ctaid_z)[l] = bz;
            }
            w.live = w.lanes;
            w.blocked = 0;
            w.group = 0;
            std::memset(w.pc, 0, sizeof w.pc);
            w.instructions = 0;
            w.sync_count = 0;
            w.cur = nullptr;
        }
        for (;;) {
            bool any_blocked = false;
            for (auto& w : warps) {
                if (w.live & ~w.blocked) run_warp(w);
                if (block.faulted) break;
                any_blocked |= w.blocked != 0;
            }
            if (block.faulted || !any_blocked) break;
            for (auto& w : warps) {   // every non-exited thread has arrived: release the barrier
                for_lanes(w.blocked, [&](int l) { ++w.pc[l]; });
                w.blocked = 0;
            }
            if (block.race) race.barrier();
        }
        for (auto& w : warps) instructions += w.instructions;
        return !block.faulted;
    }
};

}  // namespace

LaunchResult launch_kernel(const KernelCode& k, const LaunchConfig& cfg, void* const* params, DeviceMemory& memory) {
    LaunchResult res;
    auto fail = [&](LaunchStatus s, const std::string& why) {
        res.status = s;
        res.message = "kernel " + k.name + ": " + why;
        return res;
    };
    const Dim3 &g = cfg.grid, &bl = cfg.block;
    if (!g.x || !g.y || !g.z || !bl.x || !bl.y || !bl.z) return fail(LaunchStatus::invalid_value, "zero grid or block dimension");
    uint64_t threads = static_cast<uint64_t>(bl.x) * bl.y * bl.z;
    if (threads > 1024 || bl.z > 64) return fail(LaunchStatus::invalid_value, "block " + dim(bl) + " exceeds 1024 threads / z 64");
    if (k.maxntid[0] && threads > static_cast<uint64_t>(k.maxntid[0]) * k.maxntid[1] * k.maxntid[2])
        return fail(LaunchStatus::out_of_resources, "block " + dim(bl) + " is larger than .maxntid " +
                    std::to_string(k.maxntid[0] * k.maxntid[1] * k.maxntid[2]));
    if (k.reqntid[0] && (bl.x != k.reqntid[0] || bl.y != k.reqntid[1] || bl.z != k.reqntid[2]))
        return fail(LaunchStatus::invalid_value, "block " + dim(bl) + " differs from .reqntid");
    uint64_t dyn_base = (k.static_shared + k.dyn_align - 1) / k.dyn_align * k.dyn_align;
    uint64_t smem = cfg.dynamic_shared_bytes ? dyn_base + cfg.dynamic_shared_bytes : k.static_shared;
    if (smem > 232448) return fail(LaunchStatus::out_of_resources, std::to_string(smem) + " bytes of shared memory exceed 227 KiB");
    if (k.local_bytes > 512 * 1024)
        return fail(LaunchStatus::out_of_resources, std::to_string(k.local_bytes) + " bytes of local memory per thread exceed 512 KiB");
    if (!params && !k.params.empty()) return fail(LaunchStatus::invalid_value, "no kernel parameters given");
    std::vector<uint8_t> pbuf(k.param_bytes + 8, 0);
    for (size_t i = 0; i < k.params.size(); ++i) {
        if (!params[i]) return fail(LaunchStatus::invalid_value, "parameter " + std::to_string(i) + " is null");
        std::memcpy(pbuf.data() + k.params[i].offset, params[i], k.params[i].size);
    }
    RaceReport report;
    report.mode = cfg.racecheck;
    RaceReport* rep = cfg.racecheck == RaceCheck::off ? nullptr : &report;

    uint64_t nblocks = static_cast<uint64_t>(g.x) * g.y * g.z;
    unsigned nthreads = std::max(1u, std::min<unsigned>(cfg.host_threads, static_cast<unsigned>(std::min<uint64_t>(nblocks, 256))));
    std::atomic<uint64_t> next{0};
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> total{0};
    std::mutex mu;
    uint64_t fault_block = UINT64_MAX;
    Fault first;
    auto work = [&]() {
        // registers, shared and local memory of the last launch on this host thread are reused when they fit
        thread_local std::unique_ptr<Worker> cached;
        if (!cached || !cached->fits(k, cfg)) cached = std::make_unique<Worker>(k, cfg);
        Worker& wk = *cached;
        wk.bind(cfg, pbuf.data(), memory, rep);
        uint64_t count = 0;
        for (;;) {
            if (stop.load(std::memory_order_relaxed)) break;
            uint64_t b = next.fetch_add(1);
            if (b >= nblocks) break;
            uint32_t bx = static_cast<uint32_t>(b % g.x), by = static_cast<uint32_t>(b / g.x % g.y);
            uint32_t bz = static_cast<uint32_t>(b / (static_cast<uint64_t>(g.x) * g.y));
            if (!wk.run(bx, by, bz, count)) {
                std::lock_guard<std::mutex> lock(mu);
                if (b < fault_block) { fault_block = b; first = wk.block.fault; }
                stop = true;
            }
        }
        total += count;
    };
    if (nthreads == 1) {
        work();
    } else {
        std::vector<std::thread> pool;
        for (unsigned i = 0; i < nthreads; ++i) pool.emplace_back(work);
        for (auto& t : pool) t.join();
    }
    res.instructions = total;
    res.races = report.count;
    if (fault_block != UINT64_MAX) {
        res.status = first.status;
        res.message = first.message;
    } else if (report.count && cfg.racecheck == RaceCheck::error) {
        res.status = LaunchStatus::race;
        res.message = report.first;
    }
    return res;
}

}  // namespace pdemu::ptx
