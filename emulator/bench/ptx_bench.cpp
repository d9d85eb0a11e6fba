// Thread-instructions per second of the PTX interpreter on our kernels (not a test). Usage:
//   ptx_bench [kernels.ptx] [host_threads]
// The default PTX path is the one the build generated with nvcc (PDEMU_KERNELS_PTX).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <random>

#include "ptx/harness.h"
#include "ptx/kernels_ptx.h"

using ptxtest::Args;
using f16 = _Float16;

namespace {

template <class F> void measure(const char* name, F&& launch) {
    launch();   // warm-up
    auto t0 = std::chrono::steady_clock::now();
    std::clock_t c0 = std::clock();
    uint64_t instr = 0;
    int reps = 0;
    double secs = 0;
    do {
        pdemu::LaunchResult r = launch();
        if (r.status != pdemu::LaunchStatus::ok) { std::fprintf(stderr, "%s failed: %s\n", name, r.message.c_str()); return; }
        instr += r.instructions;
        ++reps;
        secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } while (secs < 2.0);
    double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    // wall-clock rate, and the rate per CPU-second (what one core does; robust when the machine is shared)
    std::printf("%-36s %7.1f M thread-instr/s wall, %7.1f M per CPU-second  (%llu instr/launch, %.1f ms/launch)\n", name,
                instr / secs / 1e6, instr / cpu / 1e6, static_cast<unsigned long long>(instr / reps), secs / reps * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
    std::string path = argc > 1 ? argv[1] : PDEMU_KERNELS_PTX;
    unsigned threads = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 1;
    if (path.empty()) { std::fprintf(stderr, "no kernels PTX (nvcc not found at configure time); pass a path\n"); return 2; }
    ptxtest::TestMemory mem;
    std::string err;
    auto m = ptxtest::load_ptx_file(path, mem, &err);
    if (!m) { std::fprintf(stderr, "load failed: %s\n", err.c_str()); return 1; }
    std::printf("host threads: %u\n", threads);
    std::mt19937 g(1);
    std::uniform_real_distribution<float> d(-2, 2);
    auto fill = [&](uint64_t a, size_t n) { for (size_t i = 0; i < n; ++i) mem.ptr<f16>(a)[i] = static_cast<f16>(d(g)); };

    {   // elementwise: silu over 1M halves, grid-stride as the Java launcher sizes it
        const int64_t n = 1 << 20;
        uint64_t x = mem.alloc(n * 2), y = mem.alloc(n * 2);
        fill(x, n);
        Args a;
        a.add(y).add(x).add(n);
        measure("silu_f16 (n=1M, 256-thread blocks)", [&] {
            return ptxtest::run(*m, "silu_f16", {static_cast<uint32_t>(n / 256), 1, 1}, {256, 1, 1}, a, mem, 0,
                                pdemu::RaceCheck::off, threads);
        });
    }
    {   // the same through a DeviceMemory without range(): every global access calls resolve()
        const int64_t n = 1 << 18;
        ptxtest::TestMemory plain(false);
        uint64_t x = plain.alloc(n * 2), y = plain.alloc(n * 2);
        Args a;
        a.add(y).add(x).add(n);
        measure("silu_f16 (n=256K, memory w/o range)", [&] {
            return ptxtest::run(*m, "silu_f16", {static_cast<uint32_t>(n / 256), 1, 1}, {256, 1, 1}, a, plain, 0,
                                pdemu::RaceCheck::off, threads);
        });
    }
    {   // launch overhead: one small block
        const int64_t n = 256;
        uint64_t x = mem.alloc(n * 2), y = mem.alloc(n * 2);
        Args a;
        a.add(y).add(x).add(n);
        measure("silu_f16 (n=256: launch overhead)", [&] {
            return ptxtest::run(*m, "silu_f16", {1, 1, 1}, {256, 1, 1}, a, mem, 0, pdemu::RaceCheck::off, threads);
        });
        const int B = 1, H = 1, D = 64, E = H * D, L = 16;
        uint64_t q = mem.alloc(B * L * E * 2), k = mem.alloc(B * L * E * 2), v = mem.alloc(B * L * E * 2), o = mem.alloc(B * L * E * 2);
        Args b;
        b.add(o).add(q).add(k).add(v).add(H).add(L).add(L).add(int64_t{E}).add(int64_t{E}).add(int64_t{E}).add(int64_t{E})
            .add(0.125f).add(0);
        measure("attention_f16_d64 (L=16: overhead)", [&] {
            return ptxtest::run(*m, "attention_f16_d64", {1, H, B}, {128, 1, 1}, b, mem, (64 + 2 * 64) * (64 + 8) * 2,
                                pdemu::RaceCheck::off, threads);
        });
    }
    {   // attention: B=1, H=8, Lq=Lk=256, d=64
        const int B = 1, H = 8, D = 64, E = H * D, L = 256;
        uint64_t q = mem.alloc(B * L * E * 2), k = mem.alloc(B * L * E * 2), v = mem.alloc(B * L * E * 2), o = mem.alloc(B * L * E * 2);
        fill(q, B * L * E); fill(k, B * L * E); fill(v, B * L * E);
        Args a;
        a.add(o).add(q).add(k).add(v).add(H).add(L).add(L).add(int64_t{E}).add(int64_t{E}).add(int64_t{E}).add(int64_t{E})
            .add(0.125f).add(0);
        uint32_t smem = (64 + 2 * 64) * (64 + 8) * 2;
        measure("attention_f16_d64 (H=8, L=256)", [&] {
            return ptxtest::run(*m, "attention_f16_d64", {L / 64, H, B}, {128, 1, 1}, a, mem, smem,
                                pdemu::RaceCheck::off, threads);
        });
        measure("attention_f16_d64, racecheck error", [&] {
            return ptxtest::run(*m, "attention_f16_d64", {L / 64, H, B}, {128, 1, 1}, a, mem, smem,
                                pdemu::RaceCheck::error, threads);
        });
    }
    {   // layernorm: 64 rows of 768
        const int rows = 64, D = 768;
        uint64_t x = mem.alloc(rows * D * 2), y = mem.alloc(rows * D * 2), gm = mem.alloc(D * 2), bt = mem.alloc(D * 2);
        fill(x, rows * D); fill(gm, D); fill(bt, D);
        Args a;
        a.add(y).add(x).add(gm).add(bt).add(D).add(1e-5f);
        measure("layernorm_f16 (64 x 768)", [&] {
            return ptxtest::run(*m, "layernorm_f16", {rows, 1, 1}, {256, 1, 1}, a, mem, D * 4, pdemu::RaceCheck::off, threads);
        });
    }
    return 0;
}
