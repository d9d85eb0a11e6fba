// mma.sync against the PTX ISA's fragment tables. The layouts are restated here from the manual (section
// "Matrix Fragments for mma.m16n8k16 with floating point type" and "... mma.m16n8k8"), independently of the
// interpreter: groupID = laneid >> 2, threadID_in_group = laneid % 4;
//   A: row = groupID for a0,a1,a4,a5 and groupID+8 for a2,a3,a6,a7; col = tig*2 + (i&1), +8 for a4..a7
//   B: row = tig*2 + (i&1), +8 for b2,b3; col = groupID
//   C/D: row = groupID for c0,c1 and groupID+8 for c2,c3; col = tig*2 + (i&1)
// Two-element registers hold the lower-numbered element in their low 16 bits.
#include <cmath>

#include "check.h"
#include "ptx/harness.h"

using ptxtest::Args;

namespace {

int a_row(int i, int lane) { return (i == 0 || i == 1 || i == 4 || i == 5) ? lane / 4 : lane / 4 + 8; }
int a_col(int i, int lane) { return (lane % 4) * 2 + (i & 1) + (i >= 4 ? 8 : 0); }
int b_row(int i, int lane) { return (lane % 4) * 2 + (i & 1) + (i >= 2 ? 8 : 0); }
int b_col(int, int lane) { return lane / 4; }
int c_row(int i, int lane) { return i < 2 ? lane / 4 : lane / 4 + 8; }
int c_col(int i, int lane) { return (lane % 4) * 2 + (i & 1); }

uint16_t to_half(float f) { return std::bit_cast<uint16_t>(static_cast<_Float16>(f)); }
uint16_t to_bf16(float f) { return static_cast<uint16_t>(std::bit_cast<uint32_t>(f) >> 16); }   // exact inputs only

struct Mma {
    Mma(int k, bool b, bool h = false) : K(k), bf16(b), f16acc(h) {}
    int K;
    bool bf16, f16acc;
    float A[16][16], B[16][8], C[16][8];
    float D[32][4];   // per lane
    std::string err;
    bool run() {
        ptxtest::TestMemory mem;
        int na = K / 4, nb = K / 8;
        std::string shape = K == 16 ? "m16n8k16" : "m16n8k8", ty = bf16 ? "bf16" : "f16";
        std::string areg = na == 4 ? "{%r1, %r2, %r3, %r4}" : "{%r1, %r2}", breg = nb == 2 ? "{%r5, %r6}" : "{%r5}";
        std::string ld_a = na == 4 ? "\tld.global.v4.u32 {%r1, %r2, %r3, %r4}, [%rd5];\n" : "\tld.global.v2.u32 {%r1, %r2}, [%rd5];\n";
        std::string acc = f16acc ? "f16" : "f32";
        std::string cfrag = f16acc ? "{%r7, %r8}" : "{%f1, %f2, %f3, %f4}", dfrag = f16acc ? "{%r7, %r8}" : "{%f5, %f6, %f7, %f8}";
        std::string ld_c = f16acc ? "\tld.global.v2.u32 {%r7, %r8}, [%rd10];\n" : "\tld.global.v4.f32 {%f1, %f2, %f3, %f4}, [%rd10];\n";
        std::string st_d = f16acc ? "\tst.global.v2.u32 [%rd11], {%r7, %r8};\n" : "\tst.global.v4.f32 [%rd11], {%f5, %f6, %f7, %f8};\n";
        std::string ld_b = nb == 2 ? "\tld.global.v2.u32 {%r5, %r6}, [%rd6];\n" : "\tld.global.u32 %r5, [%rd6];\n";
        std::string text = ptxtest::ptx(
            ".visible .entry t(.param .u64 a, .param .u64 b, .param .u64 c, .param .u64 d)\n{\n"
            "\t.reg .b32 %r<10>;\n\t.reg .b64 %rd<12>;\n\t.reg .f32 %f<9>;\n"
            "\tld.param.u64 %rd1, [a];\n\tld.param.u64 %rd2, [b];\n\tld.param.u64 %rd3, [c];\n\tld.param.u64 %rd4, [d];\n"
            "\tmov.u32 %r0, %laneid;\n\tmul.wide.u32 %rd7, %r0, " + std::to_string(na * 4) + ";\n\tadd.s64 %rd5, %rd1, %rd7;\n"
            "\tmul.wide.u32 %rd8, %r0, " + std::to_string(nb * 4) + ";\n\tadd.s64 %rd6, %rd2, %rd8;\n"
            "\tmul.wide.u32 %rd9, %r0, 16;\n\tadd.s64 %rd10, %rd3, %rd9;\n\tadd.s64 %rd11, %rd4, %rd9;\n" + ld_a + ld_b +
            ld_c + "\tmma.sync.aligned." + shape + ".row.col." + acc + "." + ty + "." + ty + "." + acc + " " + dfrag + ", " + areg +
            ", " + breg + ", " + cfrag + ";\n" + st_d + "\tret;\n}\n");
        auto m = pdemu::load_ptx(text, mem, &err);
        if (!m) return false;
        uint64_t da = mem.alloc(32 * 16), db = mem.alloc(32 * 8), dc = mem.alloc(32 * 16), dd = mem.alloc(32 * 16);
        auto enc = [&](float f) { return bf16 ? to_bf16(f) : to_half(f); };
        for (int lane = 0; lane < 32; ++lane) {
            uint16_t* a = mem.ptr<uint16_t>(da) + lane * na * 2;
            for (int i = 0; i < K / 2; ++i) a[i] = enc(A[a_row(i, lane)][a_col(i, lane)]);
            uint16_t* b = mem.ptr<uint16_t>(db) + lane * nb * 2;
            for (int i = 0; i < K / 4; ++i) b[i] = enc(B[b_row(i, lane)][b_col(i, lane)]);
            if (f16acc) {   // c0,c1 in the first .f16x2 register (c0 low), c2,c3 in the second
                uint16_t* c = mem.ptr<uint16_t>(dc) + lane * 8;   // same 16-byte stride per lane
                for (int i = 0; i < 4; ++i) c[i] = to_half(C[c_row(i, lane)][c_col(i, lane)]);
            } else {
                float* c = mem.ptr<float>(dc) + lane * 4;
                for (int i = 0; i < 4; ++i) c[i] = C[c_row(i, lane)][c_col(i, lane)];
            }
        }
        Args args;
        args.add(da).add(db).add(dc).add(dd);
        auto r = ptxtest::run(*m, "t", {1, 1, 1}, {32, 1, 1}, args, mem);
        err = r.message;
        if (r.status != pdemu::LaunchStatus::ok) return false;
        for (int lane = 0; lane < 32; ++lane)
            for (int i = 0; i < 4; ++i)
                D[lane][i] = f16acc ? static_cast<float>(mem.ptr<_Float16>(dd)[lane * 8 + i]) : mem.ptr<float>(dd)[lane * 4 + i];
        return true;
    }
};

// Dyadic values with few significant bits: every product and sum below is exact in f32, so D is exact.
void fill(Mma& t) {
    for (int r = 0; r < 16; ++r)
        for (int k = 0; k < 16; ++k) t.A[r][k] = k < t.K ? static_cast<float>(r * 16 + k) / 64.0f - 2.0f : 0.0f;
    for (int k = 0; k < 16; ++k)
        for (int n = 0; n < 8; ++n) t.B[k][n] = k < t.K ? static_cast<float>((k * 8 + n) % 13 - 6) / 8.0f : 0.0f;
    for (int r = 0; r < 16; ++r)
        for (int n = 0; n < 8; ++n) t.C[r][n] = static_cast<float>(r) - 0.5f * static_cast<float>(n);
}

void check_product(Mma& t) {
    for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < 4; ++i) {
            int r = c_row(i, lane), n = c_col(i, lane);
            double want = t.C[r][n];
            for (int k = 0; k < t.K; ++k) want += static_cast<double>(t.A[r][k]) * t.B[k][n];
            CHECK_EQ(t.D[lane][i], static_cast<float>(want));
        }
}

}  // namespace

TEST(m16n8k16_f16_full_product) {
    Mma t{16, false};
    fill(t);
    CHECK(t.run());
    if (!t.err.empty()) std::fprintf(stderr, "%s\n", t.err.c_str());
    check_product(t);
}

TEST(m16n8k16_fragment_table_per_lane) {
    // B selects column n + 8s of A (C = 0): every lane's d_i must be A[row(c_i)][col(c_i) + 8s], which holds only
    // when the A, B and D fragments are all distributed as the table says.
    for (int s = 0; s < 2; ++s) {
        Mma t{16, false};
        fill(t);
        for (int k = 0; k < 16; ++k)
            for (int n = 0; n < 8; ++n) t.B[k][n] = k == n + 8 * s ? 1.0f : 0.0f;
        for (auto& row : t.C) for (float& c : row) c = 0.0f;
        CHECK(t.run());
        for (int lane = 0; lane < 32; ++lane)
            for (int i = 0; i < 4; ++i) CHECK_EQ(t.D[lane][i], t.A[c_row(i, lane)][c_col(i, lane) + 8 * s]);
    }
    // and the C fragment alone: A = 0 gives D = C lane by lane
    Mma t{16, false};
    fill(t);
    for (auto& row : t.A) for (float& a : row) a = 0.0f;
    CHECK(t.run());
    for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < 4; ++i) CHECK_EQ(t.D[lane][i], t.C[c_row(i, lane)][c_col(i, lane)]);
}

TEST(m16n8k16_bf16_and_m16n8k8) {
    Mma t{16, true};
    fill(t);
    CHECK(t.run());
    check_product(t);
    Mma u{8, false};
    fill(u);
    CHECK(u.run());
    check_product(u);
}

TEST(m16n8k16_f16_accumulator) {
    // D and C as .f16x2 pairs; with these inputs every D value is exact in f16 (|D| < 64, multiples of 2^-9 with
    // at most 11 significant bits), so the f32 sum rounds to the same f16
    Mma t{16, false, true};
    fill(t);
    for (int r = 0; r < 16; ++r)
        for (int k = 0; k < 16; ++k) t.A[r][k] = static_cast<float>((r * 3 + k) % 8) / 4.0f;
    CHECK(t.run());
    if (!t.err.empty()) std::fprintf(stderr, "%s\n", t.err.c_str());
    check_product(t);
}

TEST(ldmatrix_x4_and_trans) {
    // four 8x8 b16 matrices in shared memory, rows padded to 24 bytes apart (row starts stay 16-byte aligned: 32 B);
    // thread 8j+r supplies the address of row r of matrix j (ISA: x4 uses threads 0-31)
    ptxtest::TestMemory mem;
    std::string err;
    auto m = pdemu::load_ptx(ptxtest::ptx(
        ".visible .entry t(.param .u64 in, .param .u64 out)\n{\n\t.reg .b32 %r<12>;\n\t.reg .b64 %rd<8>;\n"
        "\t.shared .align 16 .b8 sm[1024];\n\tld.param.u64 %rd1, [in];\n\tld.param.u64 %rd2, [out];\n"
        "\tmov.u32 %r0, %laneid;\n\tmov.u32 %r1, sm;\n"
        // copy 1024 bytes in: lane copies 32 bytes
        "\tmul.wide.u32 %rd3, %r0, 32;\n\tadd.s64 %rd4, %rd1, %rd3;\n\tshl.b32 %r2, %r0, 5;\n\tadd.s32 %r3, %r1, %r2;\n"
        "\tld.global.v4.u32 {%r4, %r5, %r6, %r7}, [%rd4];\n\tst.shared.v4.u32 [%r3], {%r4, %r5, %r6, %r7};\n"
        "\tld.global.v4.u32 {%r4, %r5, %r6, %r7}, [%rd4+16];\n\tst.shared.v4.u32 [%r3+16], {%r4, %r5, %r6, %r7};\n"
        "\tbar.sync 0;\n"
        // row address: matrix j = lane/8 at j*256, row r = lane%8 at r*32
        "\tshr.u32 %r8, %r0, 3;\n\tand.b32 %r9, %r0, 7;\n\tshl.b32 %r8, %r8, 8;\n\tshl.b32 %r9, %r9, 5;\n"
        "\tadd.s32 %r10, %r8, %r9;\n\tadd.s32 %r10, %r10, %r1;\n"
        "\tldmatrix.sync.aligned.m8n8.x4.shared.b16 {%r4, %r5, %r6, %r7}, [%r10];\n"
        "\tmul.wide.u32 %rd5, %r0, 32;\n\tadd.s64 %rd6, %rd2, %rd5;\n\tst.global.v4.u32 [%rd6], {%r4, %r5, %r6, %r7};\n"
        "\tldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%r4, %r5, %r6, %r7}, [%r10];\n"
        "\tst.global.v4.u32 [%rd6+16], {%r4, %r5, %r6, %r7};\n\tret;\n}\n"), mem, &err);
    CHECK(m != nullptr);
    if (!m) { std::fprintf(stderr, "%s\n", err.c_str()); return; }
    uint64_t in = mem.alloc(1024), out = mem.alloc(1024);
    auto elem = [](int j, int r, int c) { return static_cast<uint16_t>(j * 1000 + r * 10 + c); };
    for (int j = 0; j < 4; ++j)
        for (int r = 0; r < 8; ++r)
            for (int c = 0; c < 8; ++c) mem.ptr<uint16_t>(in)[(j * 256 + r * 32) / 2 + c] = elem(j, r, c);
    Args a;
    a.add(in).add(out);
    auto res = ptxtest::run(*m, "t", {1, 1, 1}, {32, 1, 1}, a, mem);
    CHECK_EQ(res.message, std::string());
    for (int lane = 0; lane < 32; ++lane)
        for (int j = 0; j < 4; ++j) {
            uint32_t v = mem.ptr<uint32_t>(out)[lane * 8 + j], t = mem.ptr<uint32_t>(out)[lane * 8 + 4 + j];
            int row = lane / 4, col = (lane % 4) * 2;
            CHECK_EQ(v, static_cast<uint32_t>(elem(j, row, col)) | static_cast<uint32_t>(elem(j, row, col + 1)) << 16);
            CHECK_EQ(t, static_cast<uint32_t>(elem(j, col, row)) | static_cast<uint32_t>(elem(j, col + 1, row)) << 16);
        }
}

PDEMU_TEST_MAIN
