// Modules and launches: what cuModuleLoadData accepts (PTX text; fatbins - hand-assembled ones per the container
// layout, and, when nvcc is installed, real ones built from driver_fatbin_kernel.cu), cuModuleGetFunction,
// cuFuncSetAttribute, cuLaunchKernel's configuration checks, and the sticky context error after a faulting kernel.
#include "check.h"
#include "driver/api.h"
#include "driver_ptx_kernels.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

using namespace pdemu;

namespace {
std::string detail() { return pdemuLastErrorDetail(); }
bool mentions(const std::string& text, const char* what) { return text.find(what) != std::string::npos; }

/** Retains the primary context (once per process, so one release resets it) and makes it current. */
void open_context(bool retain_again = false) {
    static bool retained = false;
    CUcontext ctx = nullptr;
    CHECK_EQ(cuInit(0), cu::SUCCESS);
    if (!retained || retain_again) {
        CHECK_EQ(cuDevicePrimaryCtxRetain(&ctx, 0), cu::SUCCESS);
        CHECK_EQ(cuCtxSetCurrent(ctx), cu::SUCCESS);
    }
    retained = true;
}

template <class T> void put(std::vector<uint8_t>& b, size_t at, T v) { std::memcpy(b.data() + at, &v, sizeof v); }

struct Entry {
    uint16_t kind;  // 1 PTX, 2 ELF
    uint32_t arch;
    std::string payload;
    uint64_t flags = 0x11;  // 64-bit, as nvcc writes
};

/** A fatbin laid out as nvcc writes one: 16-byte header, then per entry a 0x50-byte header and its payload. */
std::vector<uint8_t> fatbin(const std::vector<Entry>& entries) {
    std::vector<uint8_t> b(16, 0);
    for (const Entry& e : entries) {
        size_t at = b.size();
        uint64_t padded = (e.payload.size() + 1 + 7) / 8 * 8;
        b.resize(at + 0x50 + padded, 0);
        put<uint16_t>(b, at, e.kind);
        put<uint16_t>(b, at + 2, 0x0101);
        put<uint32_t>(b, at + 4, 0x50);
        put<uint64_t>(b, at + 8, padded);
        put<uint32_t>(b, at + 0x1c, e.arch);
        put<uint64_t>(b, at + 0x28, e.flags);
        std::memcpy(b.data() + at + 0x50, e.payload.data(), e.payload.size());
    }
    put<uint32_t>(b, 0, 0xBA55ED50u);
    put<uint16_t>(b, 4, 1);
    put<uint16_t>(b, 6, 16);
    put<uint64_t>(b, 8, b.size() - 16);
    return b;
}

std::string ptx_with_kernel_named(const char* name) {
    std::string p = kTestPtx;
    p.replace(p.find("entry fill("), 11, std::string("entry ") + name + "(");
    return p;
}

CUmodule load_test_module() {
    CUmodule m = nullptr;
    CHECK_EQ(cuModuleLoadData(&m, kTestPtx), cu::SUCCESS);
    if (!m) std::fprintf(stderr, "module load failed: %s\n", pdemuLastErrorDetail());
    return m;
}

CUresult launch_fill(CUfunction f, CUdeviceptr out, uint32_t n, float v, unsigned grid, unsigned block,
                     unsigned shared = 0) {
    void* params[] = {&out, &n, &v};
    return cuLaunchKernel(f, grid, 1, 1, block, 1, 1, shared, nullptr, params, nullptr);
}

std::vector<float> read(CUdeviceptr d, size_t n) {
    std::vector<float> h(n);
    CHECK_EQ(cuMemcpyDtoH_v2(h.data(), d, n * 4), cu::SUCCESS);
    return h;
}
}  // namespace

TEST(images_that_are_not_modules) {
    open_context();
    CUmodule m = nullptr;
    CHECK_EQ(cuModuleLoadData(nullptr, kTestPtx), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuModuleLoadData(&m, nullptr), cu::ERROR_INVALID_VALUE);
    const uint8_t junk[32] = {0x01, 0x02, 0x03, 0x04, 0xff, 0xfe};
    CHECK_EQ(cuModuleLoadData(&m, junk), cu::ERROR_INVALID_IMAGE);
    const char elf[32] = "\x7f" "ELF\x02\x01\x01";
    CHECK_EQ(cuModuleLoadData(&m, elf), cu::ERROR_NO_BINARY_FOR_GPU);
    CHECK_EQ(cuModuleLoadData(&m, "just some text without a version"), cu::ERROR_INVALID_IMAGE);
    CHECK_EQ(cuModuleLoadData(&m, ""), cu::ERROR_INVALID_IMAGE);
    std::string bad = std::string(kTestPtx) + "\n.visible .entry broken() { frobnicate.u32 %r1; }\n";
    CHECK_EQ(cuModuleLoadData(&m, bad.c_str()), cu::ERROR_INVALID_PTX);
    CHECK(!detail().empty());
}

TEST(ptx_text_loads_and_functions_are_found_by_name) {
    open_context();
    CUmodule m = load_test_module();
    CUfunction f = nullptr;
    CHECK_EQ(cuModuleGetFunction(&f, m, "fill"), cu::SUCCESS);
    CHECK_EQ(cuModuleGetFunction(&f, m, "no_such_kernel"), cu::ERROR_NOT_FOUND);
    CHECK_EQ(cuModuleGetFunction(nullptr, m, "fill"), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuModuleGetFunction(&f, m, nullptr), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuModuleUnload(m), cu::SUCCESS);
    CHECK_EQ(cuModuleGetFunction(&f, m, "fill"), cu::ERROR_INVALID_HANDLE);
    CHECK_EQ(cuModuleUnload(m), cu::ERROR_INVALID_HANDLE);
}

TEST(fatbin_takes_the_highest_ptx_up_to_compute_90) {
    open_context();
    auto image = fatbin({{1, 80, ptx_with_kernel_named("fill_from_80")},
                         {2, 90, "\x7f" "ELF not really a cubin"},
                         {1, 90, ptx_with_kernel_named("fill_from_90")},
                         {1, 100, ptx_with_kernel_named("fill_from_100")}});
    CUmodule m = nullptr;
    CHECK_EQ(cuModuleLoadData(&m, image.data()), cu::SUCCESS);
    CUfunction f = nullptr;
    CHECK_EQ(cuModuleGetFunction(&f, m, "fill_from_90"), cu::SUCCESS);
    CHECK_EQ(cuModuleGetFunction(&f, m, "fill_from_80"), cu::ERROR_NOT_FOUND);
    CHECK_EQ(cuModuleUnload(m), cu::SUCCESS);
    auto older = fatbin({{1, 75, ptx_with_kernel_named("fill_from_75")}, {1, 86, ptx_with_kernel_named("fill_from_86")}});
    CHECK_EQ(cuModuleLoadData(&m, older.data()), cu::SUCCESS);
    CHECK_EQ(cuModuleGetFunction(&f, m, "fill_from_86"), cu::SUCCESS);
    CHECK_EQ(cuModuleUnload(m), cu::SUCCESS);
}

TEST(fatbin_without_usable_ptx_or_compressed_is_refused) {
    open_context();
    CUmodule m = nullptr;
    auto cubins = fatbin({{2, 90, "\x7f" "ELF sass"}, {2, 80, "\x7f" "ELF sass"}});
    CHECK_EQ(cuModuleLoadData(&m, cubins.data()), cu::ERROR_NO_BINARY_FOR_GPU);
    CHECK(mentions(detail(), "no PTX"));
    auto newer = fatbin({{1, 100, ptx_with_kernel_named("fill_from_100")}});
    CHECK_EQ(cuModuleLoadData(&m, newer.data()), cu::ERROR_NO_BINARY_FOR_GPU);
    Entry zstd{1, 90, "\x28\xb5\x2f\xfd compressed bytes", 0x8011};
    auto compressed = fatbin({zstd});
    CHECK_EQ(cuModuleLoadData(&m, compressed.data()), cu::ERROR_INVALID_IMAGE);
    CHECK(mentions(detail(), "-compress-mode=none"));
    auto truncated = fatbin({{1, 90, kTestPtx}});
    put<uint64_t>(truncated, 0x10 + 8, 1u << 20);  // an entry claiming more bytes than the fatbin holds
    CHECK_EQ(cuModuleLoadData(&m, truncated.data()), cu::ERROR_INVALID_IMAGE);
}

#ifdef PDEMU_TEST_FATBINS
static std::vector<uint8_t> file(const char* name) {
    std::ifstream in(std::string(PDEMU_TEST_FATBINS) + "/" + name, std::ios::binary);
    std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(!b.empty());
    return b;
}

TEST(nvcc_fatbins) {
    open_context();
    CUmodule m = nullptr;
    auto plain = file("tiny.fatbin");
    CHECK_EQ(cuModuleLoadData(&m, plain.data()), cu::SUCCESS);
    CUfunction f = nullptr;
    CHECK_EQ(cuModuleGetFunction(&f, m, "add_one"), cu::SUCCESS);
    CUdeviceptr d = 0;
    CHECK_EQ(cuMemAlloc_v2(&d, 100 * 4), cu::SUCCESS);
    std::vector<float> h(100);
    for (int i = 0; i < 100; ++i) h[i] = float(i);
    CHECK_EQ(cuMemcpyHtoD_v2(d, h.data(), 400), cu::SUCCESS);
    int n = 100;
    void* params[] = {&d, &n};
    CHECK_EQ(cuLaunchKernel(f, 4, 1, 1, 32, 1, 1, 0, nullptr, params, nullptr), cu::SUCCESS);
    auto out = read(d, 100);
    for (int i = 0; i < 100; ++i) CHECK_EQ(out[i], float(i) + 1.0f);
    CHECK_EQ(cuMemFree_v2(d), cu::SUCCESS);
    CHECK_EQ(cuModuleUnload(m), cu::SUCCESS);
    auto compressed = file("tiny_compressed.fatbin");
    CHECK_EQ(cuModuleLoadData(&m, compressed.data()), cu::ERROR_INVALID_IMAGE);
    CHECK(mentions(detail(), "-compress-mode=none"));
    auto cubin = file("tiny_cubin.fatbin");
    CHECK_EQ(cuModuleLoadData(&m, cubin.data()), cu::ERROR_NO_BINARY_FOR_GPU);
}
#endif

TEST(launch_runs_the_kernel_with_copied_parameters) {
    open_context();
    CUmodule m = load_test_module();
    CUfunction f = nullptr;
    CHECK_EQ(cuModuleGetFunction(&f, m, "fill"), cu::SUCCESS);
    CUdeviceptr d = 0;
    CHECK_EQ(cuMemAlloc_v2(&d, 1000 * 4), cu::SUCCESS);
    CHECK_EQ(cuMemsetD8Async(d, 0, 4000, nullptr), cu::SUCCESS);
    CHECK_EQ(launch_fill(f, d, 999, 2.5f, 8, 128), cu::SUCCESS);
    auto out = read(d, 1000);
    CHECK_EQ(out[0], 2.5f);
    CHECK_EQ(out[998], 2.5f);
    CHECK_EQ(out[999], 0.0f);  // i >= n is skipped
    // The same launch through `extra`: a packed parameter buffer (u64 at 0, u32 at 8, f32 at 12).
    uint8_t buffer[16];
    uint32_t n = 10;
    float v = -1.0f;
    std::memcpy(buffer, &d, 8);
    std::memcpy(buffer + 8, &n, 4);
    std::memcpy(buffer + 12, &v, 4);
    size_t size = sizeof buffer;
    void* extra[] = {cu::LAUNCH_PARAM_BUFFER_POINTER, buffer, cu::LAUNCH_PARAM_BUFFER_SIZE, &size, cu::LAUNCH_PARAM_END};
    CHECK_EQ(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, extra), cu::SUCCESS);
    out = read(d, 1000);
    CHECK_EQ(out[9], -1.0f);
    CHECK_EQ(out[10], 2.5f);
    size_t too_small = 12;
    void* short_extra[] = {cu::LAUNCH_PARAM_BUFFER_POINTER, buffer, cu::LAUNCH_PARAM_BUFFER_SIZE, &too_small, cu::LAUNCH_PARAM_END};
    CHECK_EQ(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, short_extra), cu::ERROR_INVALID_VALUE);
    size_t too_large = 24;  // e.g. a caller that packed a 64-bit count where the kernel declares .u32
    void* long_extra[] = {cu::LAUNCH_PARAM_BUFFER_POINTER, buffer, cu::LAUNCH_PARAM_BUFFER_SIZE, &too_large, cu::LAUNCH_PARAM_END};
    CHECK_EQ(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, long_extra), cu::ERROR_INVALID_VALUE);
    void* params[] = {&d, &n, &v};
    CHECK_EQ(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, nullptr, params, extra), cu::ERROR_INVALID_VALUE);  // both
    CHECK_EQ(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr), cu::ERROR_INVALID_VALUE);  // neither
    CHECK_EQ(cuMemFree_v2(d), cu::SUCCESS);
    CHECK_EQ(cuModuleUnload(m), cu::SUCCESS);
    CHECK_EQ(launch_fill(f, d, 1, 1.0f, 1, 1), cu::ERROR_INVALID_HANDLE);  // its module is unloaded
}

TEST(launch_configuration_limits) {
    open_context();
    CUmodule m = load_test_module();
    CUfunction f = nullptr, small = nullptr, shared = nullptr;
    CHECK_EQ(cuModuleGetFunction(&f, m, "fill"), cu::SUCCESS);
    CHECK_EQ(cuModuleGetFunction(&small, m, "small_block"), cu::SUCCESS);
    CHECK_EQ(cuModuleGetFunction(&shared, m, "uses_shared"), cu::SUCCESS);
    CUdeviceptr d = 0;
    CHECK_EQ(cuMemAlloc_v2(&d, 4096), cu::SUCCESS);
    uint32_t n = 0;
    float v = 0;
    void* params[] = {&d, &n, &v};
    auto launch = [&](CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                      unsigned smem) { return cuLaunchKernel(fn, gx, gy, gz, bx, by, bz, smem, nullptr, params, nullptr); };
    CHECK_EQ(launch(f, 0, 1, 1, 32, 1, 1, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(launch(f, 1, 65536, 1, 32, 1, 1, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(launch(f, 1, 1, 65536, 32, 1, 1, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(launch(f, 1, 1, 1, 1025, 1, 1, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(launch(f, 1, 1, 1, 1, 1, 65, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(launch(f, 1, 1, 1, 32, 32, 2, 0), cu::ERROR_INVALID_VALUE);  // 2048 threads
    CHECK_EQ(launch(f, 1, 1, 1, 0, 1, 1, 0), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(launch(f, 1, 1, 1, 32, 32, 1, 0), cu::SUCCESS);             // 1024 threads is the limit
    CHECK_EQ(launch(small, 1, 1, 1, 256, 1, 1, 0), cu::ERROR_LAUNCH_OUT_OF_RESOURCES);  // .maxntid 128
    CHECK_EQ(launch(small, 1, 1, 1, 128, 1, 1, 0), cu::SUCCESS);
    // Dynamic shared memory: 48 KiB without opt-in, up to 227 KiB (minus static) with it.
    CHECK_EQ(launch(f, 1, 1, 1, 32, 1, 1, 48 * 1024), cu::SUCCESS);
    CHECK_EQ(launch(f, 1, 1, 1, 32, 1, 1, 48 * 1024 + 1), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuFuncSetAttribute(f, cu::FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES, 100000), cu::SUCCESS);
    CHECK_EQ(launch(f, 1, 1, 1, 32, 1, 1, 100000), cu::SUCCESS);
    CHECK_EQ(launch(f, 1, 1, 1, 32, 1, 1, 100001), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuFuncSetAttribute(f, cu::FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES, 232448), cu::SUCCESS);
    CHECK_EQ(launch(f, 1, 1, 1, 32, 1, 1, 232448), cu::SUCCESS);
    CHECK_EQ(cuFuncSetAttribute(f, cu::FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES, 232449), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuFuncSetAttribute(f, cu::FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES, -1), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuFuncSetAttribute(shared, cu::FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES, 232448 - 16384 + 1), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuFuncSetAttribute(shared, cu::FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES, 232448 - 16384), cu::SUCCESS);
    CHECK_EQ(cuLaunchKernel(shared, 1, 1, 1, 32, 1, 1, 232448 - 16384, nullptr, nullptr, nullptr), cu::SUCCESS);
    CHECK_EQ(cuLaunchKernel(shared, 1, 1, 1, 32, 1, 1, 48 * 1024 - 16384 + 1, nullptr, nullptr, nullptr), cu::SUCCESS);
    CHECK_EQ(cuFuncSetAttribute(f, cu::FUNC_MAX_THREADS_PER_BLOCK, 64), cu::ERROR_INVALID_VALUE);  // read-only
    CHECK_EQ(cuFuncSetAttribute(f, cu::FUNC_PREFERRED_SHARED_MEMORY_CARVEOUT, 50), cu::SUCCESS);
    CHECK_EQ(cuFuncSetAttribute(f, cu::FUNC_PREFERRED_SHARED_MEMORY_CARVEOUT, 101), cu::ERROR_INVALID_VALUE);
    CHECK_EQ(cuMemFree_v2(d), cu::SUCCESS);
    CHECK_EQ(cuModuleUnload(m), cu::SUCCESS);
}

TEST(several_threads_share_the_context) {
    open_context();
    CUmodule m = load_test_module();
    CUfunction f = nullptr;
    CHECK_EQ(cuModuleGetFunction(&f, m, "fill"), cu::SUCCESS);
    CUcontext ctx = nullptr;
    CHECK_EQ(cuCtxGetCurrent(&ctx), cu::SUCCESS);
    std::vector<std::thread> threads;
    std::vector<int> wrong(4, 0);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            CHECK_EQ(cuCtxSetCurrent(ctx), cu::SUCCESS);
            CUstream s = nullptr;
            CHECK_EQ(cuStreamCreate(&s, cu::STREAM_NON_BLOCKING), cu::SUCCESS);
            for (int i = 0; i < 20; ++i) {
                CUdeviceptr d = 0;
                CHECK_EQ(cuMemAlloc_v2(&d, 300 * 4), cu::SUCCESS);
                uint32_t n = 300;
                float v = float(t * 100 + i);
                void* params[] = {&d, &n, &v};
                CHECK_EQ(cuLaunchKernel(f, 5, 1, 1, 64, 1, 1, 0, s, params, nullptr), cu::SUCCESS);
                std::vector<float> h(300);
                CHECK_EQ(cuMemcpyDtoHAsync_v2(h.data(), d, 1200, s), cu::SUCCESS);
                for (float x : h) wrong[t] += x != v;
                CHECK_EQ(cuMemFree_v2(d), cu::SUCCESS);
            }
            CHECK_EQ(cuStreamDestroy_v2(s), cu::SUCCESS);
        });
    for (auto& th : threads) th.join();
    for (int w : wrong) CHECK_EQ(w, 0);
    CHECK_EQ(cuModuleUnload(m), cu::SUCCESS);
}

TEST(a_faulting_kernel_makes_its_error_sticky_until_the_context_is_reset) {
    open_context();
    CUmodule m = load_test_module();
    CUfunction unchecked = nullptr, misaligned = nullptr;
    CHECK_EQ(cuModuleGetFunction(&unchecked, m, "fill_unchecked"), cu::SUCCESS);
    CHECK_EQ(cuModuleGetFunction(&misaligned, m, "store_misaligned"), cu::SUCCESS);
    CUdeviceptr d = 0;
    CHECK_EQ(cuMemAlloc_v2(&d, 256 * 4), cu::SUCCESS);
    float v = 1.0f;
    void* params[] = {&d, &v};
    CHECK_EQ(cuLaunchKernel(unchecked, 1, 1, 1, 256, 1, 1, 0, nullptr, params, nullptr), cu::SUCCESS);  // in bounds
    CHECK_EQ(cuLaunchKernel(unchecked, 2, 1, 1, 256, 1, 1, 0, nullptr, params, nullptr), cu::ERROR_ILLEGAL_ADDRESS);
    CHECK(mentions(detail(), "fill_unchecked"));
    CHECK_EQ(cuCtxSynchronize(), cu::ERROR_ILLEGAL_ADDRESS);
    CUdeviceptr other = 0;
    CHECK_EQ(cuMemAlloc_v2(&other, 16), cu::ERROR_ILLEGAL_ADDRESS);
    std::vector<float> h(4);
    CHECK_EQ(cuMemcpyDtoH_v2(h.data(), d, 16), cu::ERROR_ILLEGAL_ADDRESS);
    CHECK_EQ(cuLaunchKernel(unchecked, 1, 1, 1, 1, 1, 1, 0, nullptr, params, nullptr), cu::ERROR_ILLEGAL_ADDRESS);
    CHECK(mentions(detail(), "fill_unchecked"));  // the sticky error keeps the fault's detail
    CHECK_EQ(cuDevicePrimaryCtxRelease_v2(0), cu::SUCCESS);  // the last release resets the context
    open_context(true);
    CHECK_EQ(cuCtxSynchronize(), cu::SUCCESS);
    m = load_test_module();
    CHECK_EQ(cuModuleGetFunction(&misaligned, m, "store_misaligned"), cu::SUCCESS);
    CHECK_EQ(cuMemAlloc_v2(&d, 64), cu::SUCCESS);
    void* mp[] = {&d};
    CHECK_EQ(cuLaunchKernel(misaligned, 1, 1, 1, 1, 1, 1, 0, nullptr, mp, nullptr), cu::ERROR_MISALIGNED_ADDRESS);
    CHECK_EQ(cuStreamSynchronize(nullptr), cu::ERROR_MISALIGNED_ADDRESS);
    CHECK_EQ(cuDevicePrimaryCtxRelease_v2(0), cu::SUCCESS);
    CHECK_EQ(cuDevicePrimaryCtxRelease_v2(0), cu::ERROR_INVALID_CONTEXT);  // no longer retained
}

PDEMU_TEST_MAIN
