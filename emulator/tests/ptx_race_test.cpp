// The shared-memory race detector: a racy kernel (a thread reads what another wrote in the same barrier interval)
// and the same kernel correctly synchronised with bar.sync; write-write on one address; intra-warp ordering by a
// .sync collective; report vs error modes. The rule is documented in src/ptx/race.h and docs/PTX.md.
#include "check.h"
#include "ptx/harness.h"
#include "ptx_check.h"

using ptxtest::Args;

namespace {
// 64 threads: s[t] = t; [sync]; out[t] = s[(t + 32) % 64]   (the reads cross warps)
std::string neighbour_kernel(const std::string& sync) {
    return ptxtest::ptx(".visible .entry k(.param .u64 out)\n{\n\t.reg .b32 %r<12>;\n\t.reg .b64 %rd<5>;\n"
                        "\t.shared .align 4 .b8 s[256];\n\tld.param.u64 %rd1, [out];\n\tmov.u32 %r1, %tid.x;\n"
                        "\tmov.u32 %r2, s;\n\tshl.b32 %r3, %r1, 2;\n\tadd.s32 %r4, %r2, %r3;\n\tst.shared.u32 [%r4], %r1;\n" +
                        sync + "\tadd.s32 %r5, %r1, 32;\n\tand.b32 %r6, %r5, 63;\n\tshl.b32 %r7, %r6, 2;\n\tadd.s32 %r8, %r2, %r7;\n"
                        "\tld.shared.u32 %r9, [%r8];\n\tmul.wide.u32 %rd2, %r1, 4;\n\tadd.s64 %rd3, %rd1, %rd2;\n"
                        "\tst.global.u32 [%rd3], %r9;\n\tret;\n}\n");
}
pdemu::LaunchResult launch(const std::string& text, pdemu::RaceCheck rc, uint32_t threads = 64) {
    ptxtest::TestMemory mem;
    auto m = ptxtest::load_checked(text, mem);
    if (!m) return {};
    uint64_t out = mem.alloc(threads * 4);
    Args a;
    a.add(out);
    return ptxtest::run(*m, "k", {2, 1, 1}, {threads, 1, 1}, a, mem, 0, rc);
}
}  // namespace

TEST(racy_kernel_is_reported) {
    auto r = launch(neighbour_kernel(""), pdemu::RaceCheck::report);
    CHECK(r.status == pdemu::LaunchStatus::ok);   // report mode: the launch itself succeeds
    CHECK(r.races >= 1u);
    auto e = launch(neighbour_kernel(""), pdemu::RaceCheck::error);
    CHECK(e.status == pdemu::LaunchStatus::race);
    CHECK(e.message.find("hazard") != std::string::npos);
    CHECK(e.message.find("st.shared.u32 [%r4], %r1") != std::string::npos);
    CHECK(e.message.find("ld.shared.u32 %r9, [%r8]") != std::string::npos);
    auto off = launch(neighbour_kernel(""), pdemu::RaceCheck::off);
    CHECK_EQ(off.races, 0u);
}

TEST(synchronised_kernel_is_clean) {
    auto r = launch(neighbour_kernel("\tbar.sync 0;\n"), pdemu::RaceCheck::error);
    CHECK(r.status == pdemu::LaunchStatus::ok);
    CHECK_EQ(r.races, 0u);
}

TEST(write_write_same_address) {
    std::string text = ptxtest::ptx(".visible .entry k(.param .u64 out)\n{\n\t.reg .b32 %r<4>;\n\t.shared .align 4 .b8 s[4];\n"
                                    "\tmov.u32 %r1, %tid.x;\n\tst.shared.u32 [s], %r1;\n\tret;\n}\n");
    auto r = launch(text, pdemu::RaceCheck::report);
    CHECK_EQ(r.races, 1u);   // one hazard (one instruction pair), reported once although many threads collide
}

TEST(intra_warp_ordering_by_sync_collective) {
    // 32 threads (one warp): s[t] = t; then read s[(t+1)%32]. Without a .sync between, lanes race (independent
    // thread scheduling); with bar.warp.sync between, they are ordered.
    auto body = [](const std::string& sync) {
        return ptxtest::ptx(".visible .entry k(.param .u64 out)\n{\n\t.reg .b32 %r<12>;\n\t.shared .align 4 .b8 s[128];\n"
                            "\tmov.u32 %r1, %tid.x;\n\tmov.u32 %r2, s;\n\tshl.b32 %r3, %r1, 2;\n\tadd.s32 %r4, %r2, %r3;\n"
                            "\tst.shared.u32 [%r4], %r1;\n" + sync +
                            "\tadd.s32 %r5, %r1, 1;\n\tand.b32 %r6, %r5, 31;\n\tshl.b32 %r7, %r6, 2;\n\tadd.s32 %r8, %r2, %r7;\n"
                            "\tld.shared.u32 %r9, [%r8];\n\tret;\n}\n");
    };
    CHECK(launch(body(""), pdemu::RaceCheck::report, 32).races >= 1u);
    CHECK_EQ(launch(body("\tbar.warp.sync -1;\n"), pdemu::RaceCheck::error, 32).races, 0u);
}

PDEMU_TEST_MAIN
