// A fork-join loop for the reference GEMM and convolution: [0, n) split into contiguous chunks over host threads
// (PDEMU_THREADS, default the hardware's), each chunk run by fn(begin, end).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <thread>
#include <vector>

namespace pdemu::par {

inline unsigned threads() {
    if (const char* v = std::getenv("PDEMU_THREADS")) {
        int n = std::atoi(v);
        if (n > 0) return unsigned(n);
    }
    unsigned n = std::thread::hardware_concurrency();
    return n ? n : 1;
}

template <class Fn> void parallel_for(size_t n, size_t min_chunk, Fn fn) {
    size_t workers = std::min<size_t>(threads(), (n + min_chunk - 1) / std::max<size_t>(min_chunk, 1));
    if (workers <= 1) {
        if (n) fn(size_t(0), n);
        return;
    }
    size_t chunk = (n + workers - 1) / workers;
    std::vector<std::thread> pool;
    for (size_t w = 1; w < workers; ++w) {
        size_t b = w * chunk, e = std::min(n, b + chunk);
        if (b < e) pool.emplace_back([=] { fn(b, e); });
    }
    fn(size_t(0), std::min(n, chunk));
    for (auto& t : pool) t.join();
}

}  // namespace pdemu::par
