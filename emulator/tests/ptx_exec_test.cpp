// Execution model: divergence and min-PC reconvergence in loops, predication, early exit, bar.sync across warps,
// shared/local/param memory, generic addressing through cvta, vector loads/stores, special registers of a 3D grid,
// shfl.sync up/down/bfly/idx with the clamp/segment operand as the PTX ISA defines it, vote.sync, blocks on
// several host threads.
#include "check.h"
#include "ptx/harness.h"
#include "ptx_check.h"

using ptxtest::Args;

namespace {
const char* kRegs = "\t.reg .pred %p<9>;\n\t.reg .b16 %rs<9>;\n\t.reg .b32 %r<40>;\n\t.reg .b64 %rd<20>;\n\t.reg .f32 %f<9>;\n";

struct Run {
    ptxtest::TestMemory mem;
    std::unique_ptr<pdemu::Module> m;
    uint64_t out = 0;
    pdemu::LaunchResult r;
    Run(const std::string& kernel_body, pdemu::Dim3 grid, pdemu::Dim3 block, size_t out_words, std::string extra = "",
        unsigned host_threads = 1) {
        m = ptxtest::load_checked(ptxtest::ptx(extra + ".visible .entry t(.param .u64 out, .param .u32 n)\n{\n" + kRegs +
                                               "\tld.param.u64 %rd0, [out];\n\tld.param.u32 %r0, [n];\n" + kernel_body +
                                               "\tret;\n}\n"),
                                  mem);
        if (!m) return;
        out = mem.alloc(out_words * 4);
        Args a;
        a.add(out).add(static_cast<uint32_t>(out_words));
        r = ptxtest::run(*m, "t", grid, block, a, mem, 0, pdemu::RaceCheck::off, host_threads);
        CHECK_EQ(r.message, std::string());
    }
    uint32_t at(size_t i) { return out ? mem.ptr<uint32_t>(out)[i] : 0xdeadbeefu; }
};
// %rd1 = &out[global linear thread id] (x only), %r1 = tid.x
const char* kIndex = "\tmov.u32 %r1, %tid.x;\n\tmov.u32 %r2, %ctaid.x;\n\tmov.u32 %r3, %ntid.x;\n"
                     "\tmad.lo.s32 %r4, %r2, %r3, %r1;\n\tmul.wide.u32 %rd1, %r4, 4;\n\tadd.s64 %rd1, %rd0, %rd1;\n";
}  // namespace

TEST(divergent_loop_reconverges_before_shfl) {
    // each lane loops tid times (divergent trip counts), then a full-warp shfl.sync needs all lanes together
    Run run(std::string(kIndex) +
                "\tmov.u32 %r5, 0;\n\tmov.u32 %r6, 0;\n"
                "$Lloop:\n\tsetp.ge.u32 %p1, %r6, %r1;\n\t@%p1 bra $Ldone;\n"
                "\tadd.s32 %r5, %r5, %r6;\n\tadd.s32 %r6, %r6, 1;\n\tbra.uni $Lloop;\n"
                "$Ldone:\n\tshfl.sync.bfly.b32 %r7, %r5, 1, 31, -1;\n\tst.global.u32 [%rd1], %r7;\n",
            {1, 1, 1}, {32, 1, 1}, 32);
    for (uint32_t t = 0; t < 32; ++t) {
        uint32_t o = t ^ 1;
        CHECK_EQ(run.at(t), o * (o - 1) / 2);
    }
    CHECK(run.r.instructions > 32 * 10);
}

TEST(if_else_divergence_and_predication) {
    Run run(std::string(kIndex) +
                "\tand.b32 %r5, %r1, 1;\n\tsetp.eq.u32 %p1, %r5, 0;\n\t@%p1 bra $Leven;\n"
                "\tmul.lo.s32 %r6, %r1, 100;\n\tbra.uni $Lend;\n"
                "$Leven:\n\tadd.s32 %r6, %r1, 1000;\n"
                "$Lend:\n\tsetp.gt.u32 %p2, %r1, 20;\n\t@%p2 add.s32 %r6, %r6, 7;\n\tst.global.u32 [%rd1], %r6;\n",
            {1, 1, 1}, {40, 1, 1}, 40);
    for (uint32_t t = 0; t < 40; ++t) CHECK_EQ(run.at(t), (t % 2 ? t * 100 : t + 1000) + (t > 20 ? 7 : 0));
}

TEST(bar_sync_across_warps_with_exited_threads) {
    // threads >= 100 exit first; the barrier waits for the other 100 threads of 4 warps
    Run run(std::string(kIndex) +
                "\tsetp.ge.u32 %p1, %r1, 100;\n\t@%p1 bra $Lexit;\n"
                "\tmov.u32 %r5, buf;\n\tshl.b32 %r6, %r1, 2;\n\tadd.s32 %r7, %r5, %r6;\n"
                "\tmul.lo.s32 %r8, %r1, 3;\n\tst.shared.u32 [%r7], %r8;\n\tbar.sync 0;\n"
                "\tadd.s32 %r9, %r1, 37;\n\trem.u32 %r10, %r9, 100;\n\tshl.b32 %r11, %r10, 2;\n\tadd.s32 %r12, %r5, %r11;\n"
                "\tld.shared.u32 %r13, [%r12];\n\tst.global.u32 [%rd1], %r13;\n$Lexit:\n",
            {2, 1, 1}, {128, 1, 1}, 256, ".shared .align 4 .b8 buf[512];\n");
    for (uint32_t b = 0; b < 2; ++b)
        for (uint32_t t = 0; t < 128; ++t) CHECK_EQ(run.at(b * 128 + t), t < 100 ? (t + 37) % 100 * 3 : 0u);
}

TEST(local_memory_generic_addressing_and_vectors) {
    Run run("\t.local .align 16 .b8 depot[32];\n" + std::string(kIndex) +
                "\tmov.u64 %rd2, depot;\n\tcvta.local.u64 %rd3, %rd2;\n"
                "\tst.local.v4.u32 [%rd2], {%r1, %r2, %r3, %r4};\n"
                "\tld.u32 %r5, [%rd3+12];\n"                     // generic read of element 3 (= %r4)
                "\tst.u32 [%rd3+16], 5;\n\tld.local.u32 %r6, [%rd2+16];\n"
                "\tadd.s32 %r7, %r5, %r6;\n"
                "\tmov.u64 %rd4, sbuf;\n\tcvta.shared.u64 %rd5, %rd4;\n"
                "\tst.u32 [%rd5], 9;\n\tld.shared.u32 %r8, [sbuf];\n\tadd.s32 %r7, %r7, %r8;\n"
                "\tcvta.to.shared.u64 %rd6, %rd5;\n\tcvt.u32.u64 %r9, %rd6;\n\tadd.s32 %r7, %r7, %r9;\n"
                "\tst.global.u32 [%rd1], %r7;\n",
            {3, 1, 1}, {4, 1, 1}, 12,
            ".shared .align 16 .b8 sbuf[16];\n");
    for (uint32_t i = 0; i < 12; ++i) CHECK_EQ(run.at(i), i + 5 + 9 + 0);
}

TEST(local_depot_in_body) {
    ptxtest::TestMemory mem;
    std::string err;
    auto m = pdemu::load_ptx(ptxtest::ptx(".visible .entry t(.param .u64 out)\n{\n\t.local .align 8 .b8 __local_depot0[24];\n"
                                          "\t.reg .b64 %SP;\n\t.reg .b64 %SPL;\n\t.reg .b64 %rd<5>;\n\t.reg .b32 %r<3>;\n"
                                          "\tmov.u64 %SPL, __local_depot0;\n\tcvta.local.u64 %SP, %SPL;\n"
                                          "\tld.param.u64 %rd1, [out];\n\tmov.u32 %r1, %tid.x;\n"
                                          "\tst.local.u32 [%SPL+20], %r1;\n\tld.u32 %r2, [%SP+20];\n"
                                          "\tmul.wide.u32 %rd2, %r1, 4;\n\tadd.s64 %rd3, %rd1, %rd2;\n"
                                          "\tst.global.u32 [%rd3], %r2;\n\tret;\n}\n"), mem, &err);
    CHECK(m != nullptr);
    if (!m) { std::fprintf(stderr, "%s\n", err.c_str()); return; }
    CHECK_EQ(m->kernel("t")->local_bytes_per_thread(), 24u);
    uint64_t out = mem.alloc(64 * 4);
    Args a;
    a.add(out);
    auto r = ptxtest::run(*m, "t", {1, 1, 1}, {64, 1, 1}, a, mem);
    CHECK_EQ(r.message, std::string());
    for (uint32_t i = 0; i < 64; ++i) CHECK_EQ(mem.ptr<uint32_t>(out)[i], i);
}

TEST(special_registers_3d) {
    Run run("\tmov.u32 %r1, %tid.x;\n\tmov.u32 %r2, %tid.y;\n\tmov.u32 %r3, %tid.z;\n\tmov.u32 %r4, %ctaid.x;\n"
            "\tmov.u32 %r5, %ctaid.y;\n\tmov.u32 %r6, %ctaid.z;\n\tmov.u32 %r7, %nctaid.x;\n\tmov.u32 %r8, %nctaid.y;\n"
            "\tmov.u32 %r9, %ntid.x;\n\tmov.u32 %r10, %ntid.y;\n\tmov.u32 %r11, %ntid.z;\n\tmov.u32 %r12, %laneid;\n"
            "\tmad.lo.s32 %r13, %r6, %r8, %r5;\n\tmad.lo.s32 %r13, %r13, %r7, %r4;\n"          // block linear
            "\tmul.lo.s32 %r14, %r9, %r10;\n\tmul.lo.s32 %r14, %r14, %r11;\n"                   // threads per block
            "\tmad.lo.s32 %r15, %r3, %r10, %r2;\n\tmad.lo.s32 %r15, %r15, %r9, %r1;\n"          // thread linear
            "\tmad.lo.s32 %r16, %r13, %r14, %r15;\n\tshl.b32 %r17, %r13, 16;\n\tshl.b32 %r18, %r15, 5;\n"
            "\tor.b32 %r17, %r17, %r18;\n\tor.b32 %r17, %r17, %r12;\n"
            "\tmul.wide.u32 %rd1, %r16, 4;\n\tadd.s64 %rd1, %rd0, %rd1;\n\tst.global.u32 [%rd1], %r17;\n",
            {2, 3, 2}, {5, 3, 3}, 12 * 45, "", 3);
    for (uint32_t b = 0; b < 12; ++b)
        for (uint32_t t = 0; t < 45; ++t) CHECK_EQ(run.at(b * 45 + t), (b << 16) | (t << 5) | (t % 32));
}

TEST(shfl_modes_and_clamps) {
    // out[4*lane + i]: up 3 (c=0), down 5 (c=0x1f), bfly 6 in segments of 8 (c=0x181f), idx 2 in segments of 8
    // (c=0x181f), as __shfl_*_sync(width) encode c = ((32-width)<<8) | (up ? 0 : 31)
    Run run("\tmov.u32 %r1, %laneid;\n\tmul.lo.s32 %r2, %r1, 10;\n"
            "\tshfl.sync.up.b32 %r3|%p1, %r2, 3, 0, -1;\n"
            "\tshfl.sync.down.b32 %r4|%p2, %r2, 5, 31, -1;\n"
            "\tshfl.sync.bfly.b32 %r5, %r2, 6, 0x181f, -1;\n"
            "\tshfl.sync.idx.b32 %r6|%p3, %r2, 2, 0x181f, -1;\n"
            "\tselp.u32 %r7, 1, 0, %p1;\n\tselp.u32 %r8, 2, 0, %p2;\n\tor.b32 %r7, %r7, %r8;\n"
            "\tmul.wide.u32 %rd1, %r1, 20;\n\tadd.s64 %rd1, %rd0, %rd1;\n"
            "\tst.global.u32 [%rd1], %r3;\n\tst.global.u32 [%rd1+4], %r4;\n\tst.global.u32 [%rd1+8], %r5;\n"
            "\tst.global.u32 [%rd1+12], %r6;\n\tst.global.u32 [%rd1+16], %r7;\n",
            {1, 1, 1}, {32, 1, 1}, 32 * 5);
    for (uint32_t l = 0; l < 32; ++l) {
        uint32_t up = l >= 3 ? l - 3 : l, down = l + 5 <= 31 ? l + 5 : l;
        uint32_t seg = l & ~7u, bfly = (l ^ 6) <= (seg | 7) ? l ^ 6 : l, idx = seg | 2;
        CHECK_EQ(run.at(l * 5 + 0), up * 10);
        CHECK_EQ(run.at(l * 5 + 1), down * 10);
        CHECK_EQ(run.at(l * 5 + 2), bfly * 10);
        CHECK_EQ(run.at(l * 5 + 3), idx * 10);
        CHECK_EQ(run.at(l * 5 + 4), (l >= 3 ? 1u : 0u) | (l + 5 <= 31 ? 2u : 0u));
    }
}

TEST(shfl_partial_warp_and_vote) {
    // lanes 0..15 take a branch and shuffle among themselves with membermask 0xffff; then vote over the full warp
    Run run("\tmov.u32 %r1, %laneid;\n\tsetp.lt.u32 %p1, %r1, 16;\n\tmov.u32 %r3, 0;\n\t@!%p1 bra $Lskip;\n"
            "\tshfl.sync.down.b32 %r3, %r1, 1, 0x101f, 0xffff;\n"     // segments of 16 lanes
            "$Lskip:\n\tsetp.ne.u32 %p2, %r3, 0;\n\tvote.sync.ballot.b32 %r4, %p2, -1;\n"
            "\tvote.sync.any.pred %p3, %p2, -1;\n\tvote.sync.all.pred %p4, %p2, -1;\n"
            "\tselp.u32 %r5, 1, 0, %p3;\n\tselp.u32 %r6, 2, 0, %p4;\n\tor.b32 %r5, %r5, %r6;\n"
            "\tmul.wide.u32 %rd1, %r1, 12;\n\tadd.s64 %rd1, %rd0, %rd1;\n"
            "\tst.global.u32 [%rd1], %r3;\n\tst.global.u32 [%rd1+4], %r4;\n\tst.global.u32 [%rd1+8], %r5;\n",
            {1, 1, 1}, {32, 1, 1}, 32 * 3);
    for (uint32_t l = 0; l < 32; ++l) {
        CHECK_EQ(run.at(l * 3), l < 16 ? (l < 15 ? l + 1 : 15u) : 0u);
        CHECK_EQ(run.at(l * 3 + 1), 0xffffu);   // lanes 0..15 hold non-zero values (lane 15 keeps its own 15)
        CHECK_EQ(run.at(l * 3 + 2), 1u);
    }
}

TEST(global_vector_loads_and_params) {
    ptxtest::TestMemory mem;
    std::string err;
    auto m = pdemu::load_ptx(ptxtest::ptx(
        ".visible .entry t(.param .u64 in, .param .u64 out, .param .align 4 .b8 st[8], .param .f32 s)\n{\n"
        "\t.reg .b32 %r<12>;\n\t.reg .b64 %rd<8>;\n\t.reg .b16 %rs<5>;\n\t.reg .f32 %f<4>;\n"
        "\tld.param.u64 %rd1, [in];\n\tld.param.u64 %rd2, [out];\n\tld.param.v4.u8 {%rs1, %rs2, %rs3, %rs4}, [st+4];\n"
        "\tld.param.f32 %f1, [s];\n\tcvta.to.global.u64 %rd3, %rd1;\n"
        "\tld.global.nc.v4.u32 {%r1, %r2, %r3, %r4}, [%rd3+16];\n\tld.global.v2.u32 {%r5, %r6}, [%rd3+8];\n"
        "\tcvt.u32.u16 %r7, %rs3;\n\tadd.s32 %r8, %r1, %r7;\n\tmov.b32 %r9, %f1;\n"
        "\tst.global.v4.u32 [%rd2], {%r8, %r4, %r6, %r9};\n\tret;\n}\n"), mem, &err);
    CHECK(m != nullptr);
    if (!m) { std::fprintf(stderr, "%s\n", err.c_str()); return; }
    auto& ps = m->kernel("t")->params();
    CHECK_EQ(ps.size(), size_t(4));
    CHECK_EQ(ps[2].offset, 16u);
    CHECK_EQ(ps[2].size, 8u);
    CHECK_EQ(ps[3].offset, 24u);
    uint64_t in = mem.alloc(64), out = mem.alloc(16);
    for (uint32_t i = 0; i < 16; ++i) mem.ptr<uint32_t>(in)[i] = 100 + i;
    Args a;
    uint8_t stv[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct S8 { uint8_t b[8]; } s8;
    std::memcpy(s8.b, stv, 8);
    a.add(in).add(out).add(s8).add(1.5f);
    auto r = ptxtest::run(*m, "t", {1, 1, 1}, {1, 1, 1}, a, mem);
    CHECK_EQ(r.message, std::string());
    uint32_t* o = mem.ptr<uint32_t>(out);
    CHECK_EQ(o[0], 104u + 7u);
    CHECK_EQ(o[1], 107u);
    CHECK_EQ(o[2], 103u);
    CHECK_EQ(o[3], 0x3fc00000u);
}

TEST(module_global_with_initializer) {
    ptxtest::TestMemory mem;
    std::string err;
    auto m = pdemu::load_ptx(ptxtest::ptx(
        ".global .align 4 .b8 tbl[8] = {1, 2, 3, 4, 5, 6, 7, 8};\n.global .align 4 .u32 cnt = 42;\n"
        ".visible .entry t(.param .u64 out)\n{\n\t.reg .b32 %r<5>;\n\t.reg .b64 %rd<5>;\n"
        "\tld.param.u64 %rd1, [out];\n\tmov.u64 %rd2, tbl;\n\tld.global.nc.u32 %r1, [%rd2+4];\n"
        "\tld.global.u32 %r2, [cnt];\n\tadd.s32 %r3, %r1, %r2;\n\tst.global.u32 [%rd1], %r3;\n\tret;\n}\n"), mem, &err);
    CHECK(m != nullptr);
    if (!m) { std::fprintf(stderr, "%s\n", err.c_str()); return; }
    size_t sz = 0;
    CHECK(m->global("tbl", &sz) != 0);
    CHECK_EQ(sz, size_t(8));
    uint64_t out = mem.alloc(4);
    Args a;
    a.add(out);
    auto r = ptxtest::run(*m, "t", {1, 1, 1}, {1, 1, 1}, a, mem);
    CHECK_EQ(r.message, std::string());
    CHECK_EQ(mem.ptr<uint32_t>(out)[0], 0x08070605u + 42u);
}

TEST(brace_scoped_blocks_with_inner_registers) {
    // nvcc wraps inline conversions in { .reg ...; ... } blocks; inner names shadow outer ones within the block
    Run run(std::string(kIndex) +
                "\tmov.u32 %r5, 0x00070003;\n"
                "\t{\n\t.reg .b16 %temp;\n\t.reg .b32 %r5;\n\tmov.u32 %r5, 99;\n\tmov.b32 {%temp, %rs1}, %r5;\n\t}\n"
                "\t{ .reg .b16 %temp; mov.b32 {%rs2, %temp}, %r5; }\n"
                "\t{  mov.b32 %r6, {%rs2,%rs1};}\n"
                "\tst.global.u32 [%rd1], %r6;\n",
            {1, 1, 1}, {2, 1, 1}, 2);
    // inner %r5 = 99 -> %rs1 = 0 (upper half); outer %r5 -> %rs2 = 3; packed {3, 0}
    CHECK_EQ(run.at(0), 3u);
    CHECK_EQ(run.at(1), 3u);
}

TEST(atomics_global_and_shared) {
    // out[0]: atom.global.add.u32 by every thread of 4 blocks on 2 host threads; out[1]: red.global.add.f32 of 0.5;
    // out[2]: atom.global.max.s32 of tid - 100; out[3]: atom.inc.u32 with limit 9 (wraps to 0 after 9);
    // out[4..]: per block, the shared counter after atom.shared.add and the number of successful cas 0 -> 1
    Run run("\t.shared .align 4 .b8 sh[8];\n\tmov.u32 %r1, %tid.x;\n\tmov.u32 %r2, %ctaid.x;\n"
            "\tatom.global.add.u32 %r3, [%rd0], 1;\n"
            "\tred.global.add.f32 [%rd0+4], 0f3F000000;\n"
            "\tadd.s32 %r4, %r1, -100;\n\tatom.global.max.s32 %r5, [%rd0+8], %r4;\n"
            "\tatom.global.inc.u32 %r6, [%rd0+12], 9;\n"
            "\tatom.shared.add.u32 %r7, [sh], 2;\n\tatom.shared.cas.b32 %r8, [sh+4], 0, 1;\n"
            "\tsetp.eq.u32 %p1, %r8, 0;\n\tselp.u32 %r9, 1, 0, %p1;\n\tmov.u64 %rd5, sh;\n\tcvta.shared.u64 %rd6, %rd5;\n"
            "\tatom.add.u32 %r10, [%rd6], 0;\n"                       // generic address into shared
            "\tbar.sync 0;\n\tsetp.ne.u32 %p2, %r1, 0;\n\t@%p2 bra $Lend;\n"
            "\tld.shared.u32 %r11, [sh];\n\tmul.wide.u32 %rd2, %r2, 8;\n\tadd.s64 %rd3, %rd0, %rd2;\n"
            "\tst.global.u32 [%rd3+16], %r11;\n\tld.shared.u32 %r12, [sh+4];\n\tst.global.u32 [%rd3+20], %r12;\n$Lend:\n",
            {4, 1, 1}, {64, 1, 1}, 12, "", 2);
    CHECK_EQ(run.at(0), 256u);
    CHECK_EQ(std::bit_cast<float>(run.at(1)), 128.0f);
    CHECK_EQ(run.at(2), static_cast<uint32_t>(63 - 100 < 0 ? 0 : 63 - 100));   // max(0, tid - 100) = 0
    CHECK_EQ(run.at(3), 256u % 10);
    for (int b = 0; b < 4; ++b) {
        CHECK_EQ(run.at(4 + 2 * b), 128u);
        CHECK_EQ(run.at(5 + 2 * b), 1u);
    }
}

PDEMU_TEST_MAIN
