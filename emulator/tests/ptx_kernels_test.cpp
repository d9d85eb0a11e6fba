// Runs some of our real kernels (kernels/src/*.cu compiled by nvcc -ptx at build time) through the interpreter on
// small inputs and compares with naive C++ computations of what each kernel documents (f32 math, f16 tolerance).
// Launch shapes as the Java launch sites use them (runtime/.../cuda/CudaBackend.java). Skips visibly without nvcc.
#include <cmath>
#include <random>

#include "check.h"
#include "ptx/harness.h"
#include "ptx/kernels_ptx.h"

using ptxtest::Args;
using f16 = _Float16;

namespace {

struct Kernels {
    ptxtest::TestMemory mem;
    std::unique_ptr<pdemu::Module> m;
    bool ok = false;
    Kernels() {
        std::string path = PDEMU_KERNELS_PTX;
        if (path.empty()) {
            std::fprintf(stderr, "SKIPPED: nvcc was not found at configure time, so there is no kernels PTX to run\n");
            return;
        }
        std::string err;
        m = ptxtest::load_ptx_file(path, mem, &err);
        CHECK_EQ(err, std::string());
        ok = m != nullptr;
    }
    uint64_t upload(const std::vector<f16>& v) {
        uint64_t a = mem.alloc(v.size() * 2 + 16);
        std::memcpy(mem.ptr<void>(a), v.data(), v.size() * 2);
        return a;
    }
    std::vector<float> download(uint64_t a, size_t n) {
        std::vector<float> r(n);
        for (size_t i = 0; i < n; ++i) r[i] = static_cast<float>(mem.ptr<f16>(a)[i]);
        return r;
    }
};

std::vector<f16> random_f16(size_t n, float lo, float hi, unsigned seed) {
    std::mt19937 g(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<f16> v(n);
    for (auto& x : v) x = static_cast<f16>(d(g));
    return v;
}

void check_close(const std::vector<float>& got, const std::vector<float>& want, float atol, float rtol, const char* what) {
    CHECK_EQ(got.size(), want.size());
    int bad = 0;
    for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
        if (!(std::fabs(got[i] - want[i]) <= atol + rtol * std::fabs(want[i]))) {
            if (bad++ < 5) std::fprintf(stderr, "%s[%zu]: got %g, expected %g\n", what, i, got[i], want[i]);
        }
    }
    CHECK_EQ(bad, 0);
}

}  // namespace

TEST(silu_f16) {
    Kernels k;
    if (!k.ok) return;
    const int64_t n = 1000;
    auto x = random_f16(n, -8, 8, 1);
    uint64_t dx = k.upload(x), dy = k.upload(std::vector<f16>(n));
    Args a;
    a.add(dy).add(dx).add(n);
    auto r = ptxtest::run(*k.m, "silu_f16", {(n + 255) / 256, 1, 1}, {256, 1, 1}, a, k.mem);
    CHECK_EQ(r.message, std::string());
    std::vector<float> want(n);
    for (int64_t i = 0; i < n; ++i) { float v = x[i]; want[i] = v / (1.0f + std::exp(-v)); }
    check_close(k.download(dy, n), want, 2e-3f, 2e-3f, "silu");
    CHECK(r.instructions > static_cast<uint64_t>(n) * 10);
}

TEST(layernorm_f16) {
    Kernels k;
    if (!k.ok) return;
    const int rows = 3, D = 320;
    const float eps = 1e-5f;
    auto x = random_f16(rows * D, -3, 5, 2), g = random_f16(D, 0.5f, 1.5f, 3), b = random_f16(D, -1, 1, 4);
    uint64_t dx = k.upload(x), dg = k.upload(g), db = k.upload(b), dy = k.upload(std::vector<f16>(rows * D));
    Args a;
    a.add(dy).add(dx).add(dg).add(db).add(D).add(eps);
    auto r = ptxtest::run(*k.m, "layernorm_f16", {rows, 1, 1}, {256, 1, 1}, a, k.mem, D * 4, pdemu::RaceCheck::error);
    CHECK_EQ(r.message, std::string());
    CHECK_EQ(r.races, 0u);
    std::vector<float> want(rows * D);
    for (int i = 0; i < rows; ++i) {
        double mean = 0, var = 0;
        for (int j = 0; j < D; ++j) mean += static_cast<float>(x[i * D + j]);
        mean /= D;
        for (int j = 0; j < D; ++j) { double d = static_cast<float>(x[i * D + j]) - mean; var += d * d; }
        var /= D;
        for (int j = 0; j < D; ++j)
            want[i * D + j] = static_cast<float>((static_cast<float>(x[i * D + j]) - mean) / std::sqrt(var + eps) *
                                                 static_cast<float>(g[j]) + static_cast<float>(b[j]));
    }
    check_close(k.download(dy, rows * D), want, 1e-2f, 5e-3f, "layernorm");
}

TEST(softmax_rows_f32_f16) {
    Kernels k;
    if (!k.ok) return;
    for (int causal = 0; causal < 2; ++causal) {
        const int rows = 6, cols = 77, Lq = 6, q0 = 0;
        const float scale = 0.125f;
        std::mt19937 gen(5);
        std::uniform_real_distribution<float> dist(-20, 20);
        std::vector<float> s(rows * cols);
        for (auto& v : s) v = dist(gen);
        uint64_t ds = k.mem.alloc(s.size() * 4), dp = k.upload(std::vector<f16>(rows * cols));
        std::memcpy(k.mem.ptr<void>(ds), s.data(), s.size() * 4);
        Args a;
        a.add(dp).add(ds).add(cols).add(Lq).add(q0).add(scale).add(causal);
        auto r = ptxtest::run(*k.m, "softmax_rows_f32_f16", {rows, 1, 1}, {256, 1, 1}, a, k.mem, 0, pdemu::RaceCheck::error);
        CHECK_EQ(r.message, std::string());
        std::vector<float> want(rows * cols, 0.0f);
        for (int i = 0; i < rows; ++i) {
            int limit = causal ? std::min(cols, q0 + i % Lq + 1) : cols;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < limit; ++j) mx = std::max<double>(mx, s[i * cols + j] * scale);
            for (int j = 0; j < limit; ++j) sum += std::exp(s[i * cols + j] * scale - mx);
            for (int j = 0; j < limit; ++j) want[i * cols + j] = static_cast<float>(std::exp(s[i * cols + j] * scale - mx) / sum);
        }
        check_close(k.download(dp, rows * cols), want, 1e-3f, 3e-3f, causal ? "softmax causal" : "softmax");
    }
}

namespace {
void attention_case(Kernels& k, int d, int causal, int B, int H, int Lq, int Lk);
}

TEST(attention_f16_d64) {
    Kernels k;
    if (!k.ok) return;
    for (int causal = 0; causal < 2; ++causal) attention_case(k, 64, causal, 2, 2, 70, causal ? 70 : 50);
}

TEST(attention_f16_other_head_dims) {
    // d40/d80 pad the head dim to a multiple of 16; d128/d160 use 32-key tiles (BC = 32)
    Kernels k;
    if (!k.ok) return;
    for (int d : {40, 80, 128, 160}) attention_case(k, d, d == 80, 1, 2, 33, d == 80 ? 33 : 45);
}

namespace {
void attention_case(Kernels& k, int d, int causal, int B, int H, int Lq, int Lk) {
    {
        const int E = H * d;
        const std::string name = "attention_f16_d" + std::to_string(d);
        const pdemu::Dim3 grid{static_cast<uint32_t>((Lq + 63) / 64), static_cast<uint32_t>(H), static_cast<uint32_t>(B)};
        const float scale = 1.0f / std::sqrt(static_cast<float>(d));
        auto q = random_f16(B * Lq * E, -2, 2, 10), kk = random_f16(B * Lk * E, -2, 2, 11), v = random_f16(B * Lk * E, -1, 1, 12);
        uint64_t dq = k.upload(q), dk = k.upload(kk), dv = k.upload(v), dout = k.upload(std::vector<f16>(B * Lq * E));
        Args a;
        a.add(dout).add(dq).add(dk).add(dv).add(H).add(Lq).add(Lk).add(int64_t{E}).add(int64_t{E}).add(int64_t{E})
            .add(int64_t{E}).add(scale).add(causal);
        const int bc = d >= 128 ? 32 : 64;
        uint32_t smem = (64 + 2 * bc) * ((d + 15) / 16 * 16 + 8) * 2;
        auto r = ptxtest::run(*k.m, name.c_str(), grid, {128, 1, 1}, a, k.mem, smem,
                              pdemu::RaceCheck::error, 2);
        CHECK_EQ(r.message, std::string());
        CHECK_EQ(r.races, 0u);
        std::vector<float> want(B * Lq * E);
        for (int b = 0; b < B; ++b)
            for (int h = 0; h < H; ++h)
                for (int i = 0; i < Lq; ++i) {
                    std::vector<double> p(Lk);
                    double mx = -INFINITY, sum = 0;
                    int lim = causal ? std::min(Lk, i + 1) : Lk;
                    for (int j = 0; j < lim; ++j) {
                        double dot = 0;
                        for (int c = 0; c < d; ++c)
                            dot += static_cast<double>(static_cast<float>(q[(b * Lq + i) * E + h * d + c])) *
                                   static_cast<float>(kk[(b * Lk + j) * E + h * d + c]);
                        p[j] = dot * scale;
                        mx = std::max(mx, p[j]);
                    }
                    for (int j = 0; j < lim; ++j) { p[j] = std::exp(p[j] - mx); sum += p[j]; }
                    for (int c = 0; c < d; ++c) {
                        double o = 0;
                        for (int j = 0; j < lim; ++j) o += p[j] * static_cast<float>(v[(b * Lk + j) * E + h * d + c]);
                        want[(b * Lq + i) * E + h * d + c] = static_cast<float>(o / sum);
                    }
                }
        auto got = k.download(dout, B * Lq * E);
        check_close(got, want, 1e-2f, 1e-2f, causal ? "attention causal" : "attention");
        // one host thread gives bit-identical results (blocks are independent)
        uint64_t dout1 = k.upload(std::vector<f16>(B * Lq * E));
        a.storage[0].assign(reinterpret_cast<uint8_t*>(&dout1), reinterpret_cast<uint8_t*>(&dout1) + 8);
        r = ptxtest::run(*k.m, name.c_str(), grid, {128, 1, 1}, a, k.mem, smem);
        CHECK_EQ(r.message, std::string());
        CHECK(std::memcmp(k.mem.ptr<void>(dout), k.mem.ptr<void>(dout1), B * Lq * E * 2) == 0);
    }
}
}  // namespace

TEST(gelu_f16_and_quick_gelu_f16) {
    Kernels k;
    if (!k.ok) return;
    const int64_t n = 777;
    auto x = random_f16(n, -6, 6, 7);
    uint64_t dx = k.upload(x), dy = k.upload(std::vector<f16>(n)), dz = k.upload(std::vector<f16>(n));
    Args a, b;
    a.add(dy).add(dx).add(n);
    b.add(dz).add(dx).add(n);
    auto r = ptxtest::run(*k.m, "gelu_f16", {4, 1, 1}, {256, 1, 1}, a, k.mem);
    CHECK_EQ(r.message, std::string());
    r = ptxtest::run(*k.m, "quick_gelu_f16", {2, 1, 1}, {256, 1, 1}, b, k.mem);   // grid-stride loop: 2 passes
    CHECK_EQ(r.message, std::string());
    std::vector<float> g(n), q(n);
    for (int64_t i = 0; i < n; ++i) {
        double v = static_cast<float>(x[i]);
        g[i] = static_cast<float>(0.5 * v * (1 + std::erf(v / std::sqrt(2.0))));
        q[i] = static_cast<float>(v / (1 + std::exp(-1.702 * v)));
    }
    check_close(k.download(dy, n), g, 2e-3f, 2e-3f, "gelu");
    check_close(k.download(dz, n), q, 2e-3f, 2e-3f, "quick_gelu");
}

TEST(groupnorm_stats_finalize_apply_f16) {
    // channels-last x [N, H*W, C], split statistics merged by the finalize kernel, then affine + SiLU
    Kernels k;
    if (!k.ok) return;
    const int N = 2, C = 64, G = 8, splits = 3;
    const int64_t S = 36, total = N * C * S;
    const float eps = 1e-5f;
    auto x = random_f16(total, -2, 3, 20), g = random_f16(C, 0.5f, 1.5f, 21), b = random_f16(C, -0.5f, 0.5f, 22);
    uint64_t dx = k.upload(x), dg = k.upload(g), db = k.upload(b), dy = k.upload(std::vector<f16>(total));
    uint64_t partial = k.mem.alloc(12 * N * G * splits), stats = k.mem.alloc(8 * N * G);
    Args s1, s2, s3;
    s1.add(partial).add(dx).add(C).add(S).add(G).add(int64_t{1}).add(int64_t{C}).add(splits);
    auto r = ptxtest::run(*k.m, "groupnorm_stats_f16", {N * G, splits, 1}, {256, 1, 1}, s1, k.mem, 0, pdemu::RaceCheck::error, 2);
    CHECK_EQ(r.message, std::string());
    s2.add(stats).add(partial).add(N * G).add(splits).add(eps);
    r = ptxtest::run(*k.m, "groupnorm_finalize_f32", {1, 1, 1}, {128, 1, 1}, s2, k.mem);
    CHECK_EQ(r.message, std::string());
    s3.add(dy).add(dx).add(stats).add(dg).add(db).add(uint64_t{0}).add(C).add(S).add(G).add(int64_t{1}).add(1).add(total);
    r = ptxtest::run(*k.m, "groupnorm_apply_f16", {static_cast<uint32_t>((total + 255) / 256), 1, 1}, {256, 1, 1}, s3, k.mem);
    CHECK_EQ(r.message, std::string());
    std::vector<float> want(total);
    const int cpg = C / G;
    for (int n = 0; n < N; ++n)
        for (int gi = 0; gi < G; ++gi) {
            double mean = 0, var = 0;
            for (int64_t sp = 0; sp < S; ++sp)
                for (int c = gi * cpg; c < (gi + 1) * cpg; ++c) mean += static_cast<float>(x[(n * S + sp) * C + c]);
            mean /= cpg * S;
            for (int64_t sp = 0; sp < S; ++sp)
                for (int c = gi * cpg; c < (gi + 1) * cpg; ++c) {
                    double d = static_cast<float>(x[(n * S + sp) * C + c]) - mean;
                    var += d * d;
                }
            var /= cpg * S;
            for (int64_t sp = 0; sp < S; ++sp)
                for (int c = gi * cpg; c < (gi + 1) * cpg; ++c) {
                    int64_t i = (n * S + sp) * C + c;
                    double v = (static_cast<float>(x[i]) - mean) / std::sqrt(var + eps) * static_cast<float>(g[c]) +
                               static_cast<float>(b[c]);
                    want[i] = static_cast<float>(v / (1 + std::exp(-v)));
                }
        }
    check_close(k.download(dy, total), want, 5e-3f, 5e-3f, "groupnorm");
}

TEST(timestep_embedding_f16) {
    // sinf/cosf with large arguments take CUDA's slow path (local-memory depot, the __cudart_i2opi_f table)
    Kernels k;
    if (!k.ok) return;
    const std::vector<float> t = {0.0f, 1.0f, 500.0f, 999.0f, 300000.0f};
    const int B = static_cast<int>(t.size()), dim = 33;
    const float shift = 1.0f, maxPeriod = 10000.0f, scale = 1.0f;
    uint64_t dt = k.mem.alloc(B * 4), dy = k.upload(std::vector<f16>(B * dim));
    std::memcpy(k.mem.ptr<void>(dt), t.data(), B * 4);
    Args a;
    a.add(dy).add(dt).add(B).add(dim).add(1).add(shift).add(maxPeriod).add(scale);
    auto r = ptxtest::run(*k.m, "timestep_embedding_f16", {1, 1, 1}, {256, 1, 1}, a, k.mem);
    CHECK_EQ(r.message, std::string());
    auto got = k.download(dy, B * dim);
    const int half = dim / 2;
    for (int b = 0; b < B; ++b)
        for (int j = 0; j < dim; ++j) {
            double want = 0;
            if (j < 2 * half) {
                int kk = j < half ? j : j - half;
                double freq = std::exp(-std::log(static_cast<double>(maxPeriod)) * kk / (half - shift));
                double arg = static_cast<float>(static_cast<float>(t[b] * static_cast<float>(freq)) * scale);
                want = j < half ? std::cos(arg) : std::sin(arg);   // flip_sin_to_cos
            }
            // large arguments: freq's last-ulp differences move arg by up to |t| * 2^-23
            double tol = 2e-3 + std::fabs(t[b]) * std::ldexp(1.0, -22);
            if (!(std::fabs(got[b * dim + j] - want) <= tol)) {
                std::fprintf(stderr, "timestep[%d,%d]: got %g, expected %g\n", b, j, got[b * dim + j], want);
                CHECK(false);
            }
        }
}

PDEMU_TEST_MAIN
