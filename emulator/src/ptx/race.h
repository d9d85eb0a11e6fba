// Shared-memory race detector (LaunchConfig::racecheck), in the spirit of compute-sanitizer racecheck.
//
// Rule implemented: per block, between consecutive bar.sync releases (an "interval"), every shared byte remembers
// its last writer and last reader (thread, instruction, and the warp's count of .sync collectives at that moment).
// Two accesses to one byte by different threads in the same interval, at least one a write, are a hazard — unless
// both threads are in the same warp and a .sync collective (shfl.sync, vote.sync, bar.warp.sync, mma.sync, ...) of
// that warp lies between them. With several readers of one byte only the last reader is remembered (plus a flag
// that there were more), so a write after two reads is reported against the last of them. Each hazard is reported
// once per (kind, instruction pair) per launch.
#pragma once

#include <mutex>
#include <set>
#include <tuple>
#include <vector>

#include "ptx/ir.h"

namespace pdemu::ptx {

struct RaceReport {               // shared by all blocks of a launch
    RaceCheck mode = RaceCheck::off;
    std::mutex mu;
    std::set<std::tuple<int, uint32_t, uint32_t>> seen;
    uint32_t count = 0;
    std::string first;            // first hazard's message (for LaunchStatus::race)
};

struct RaceState {
    struct Cell {
        uint32_t w_epoch = 0, w_tid = 0, w_inst = 0;
        uint32_t r_epoch = 0, r_tid = 0, r_inst = 0;
        uint64_t w_sync = 0, r_sync = 0;
        bool r_many = false;
    };
    RaceReport* report = nullptr;
    std::vector<Cell> cells;
    uint32_t epoch = 1;
    void reset(uint32_t bytes) { cells.assign(bytes, Cell{}); epoch = 1; }
    void barrier() { ++epoch; }
};

/** Records one shared access of `size` bytes at shared offset `off` by `lane` of `w` (bounds already checked). */
void race_access(Warp& w, int lane, uint64_t off, uint32_t size, bool write);

}  // namespace pdemu::ptx
