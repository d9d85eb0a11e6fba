// Shared-memory race detector; the rule is described in race.h.
#include <cstdio>

#include "ptx/race.h"

namespace pdemu::ptx {

std::string thread_name(const Block& b, uint32_t linear);   // executor.cpp

namespace {

enum Kind { write_write, read_after_write, write_after_read };

void report(Warp& w, Kind kind, uint64_t off, uint32_t other_tid, uint32_t other_inst, uint32_t tid) {
    Block& b = *w.block;
    RaceReport& rep = *b.race->report;
    const KernelCode& k = *b.k;
    uint32_t this_inst = static_cast<uint32_t>(w.cur - k.code.data());
    std::lock_guard<std::mutex> lock(rep.mu);
    if (!rep.seen.insert({kind, std::min(this_inst, other_inst), std::max(this_inst, other_inst)}).second) return;
    ++rep.count;
    static const char* names[] = {"write-write", "read-after-write", "write-after-read"};
    char addr[32];
    std::snprintf(addr, sizeof addr, "0x%llx", static_cast<unsigned long long>(off));
    const Inst& a = k.code[other_inst];
    const Inst& c = k.code[this_inst];
    std::string msg = "racecheck: kernel " + k.name + ": " + names[kind] + " hazard on shared memory offset " + addr +
                      " between " + thread_name(b, other_tid) + " (" + k.texts[a.text] + ", line " +
                      std::to_string(a.line) + ") and " + thread_name(b, tid) + " (" + k.texts[c.text] + ", line " +
                      std::to_string(c.line) + ")";
    if (rep.first.empty()) rep.first = msg;
    std::fprintf(stderr, "%s\n", msg.c_str());
}

}  // namespace

void race_access(Warp& w, int lane, uint64_t off, uint32_t size, bool write) {
    RaceState& rs = *w.block->race;
    const uint32_t tid = w.index * 32 + static_cast<uint32_t>(lane);
    const uint32_t inst = static_cast<uint32_t>(w.cur - w.k->code.data());
    const uint64_t sync = w.sync_count;
    auto ordered = [&](uint32_t other, uint64_t other_sync) {
        return other == tid || (other / 32 == tid / 32 && other_sync != sync);
    };
    for (uint32_t i = 0; i < size; ++i) {
        RaceState::Cell& c = rs.cells[off + i];
        if (write) {
            if (c.w_epoch == rs.epoch && !ordered(c.w_tid, c.w_sync)) { report(w, write_write, off + i, c.w_tid, c.w_inst, tid); }
            else if (c.r_epoch == rs.epoch && (c.r_many || !ordered(c.r_tid, c.r_sync)) && c.r_tid != tid) {
                report(w, write_after_read, off + i, c.r_tid, c.r_inst, tid);
            }
            c.w_epoch = rs.epoch; c.w_tid = tid; c.w_inst = inst; c.w_sync = sync;
        } else {
            if (c.w_epoch == rs.epoch && !ordered(c.w_tid, c.w_sync)) report(w, read_after_write, off + i, c.w_tid, c.w_inst, tid);
            if (c.r_epoch == rs.epoch && c.r_tid != tid) c.r_many = true;
            else if (c.r_epoch != rs.epoch) c.r_many = false;
            c.r_epoch = rs.epoch; c.r_tid = tid; c.r_inst = inst; c.r_sync = sync;
        }
    }
}

}  // namespace pdemu::ptx
