// Faults as a GPU reports them: out-of-bounds global (past the end, freed), shared and local accesses
// (illegal_address), misaligned scalar and vector accesses (misaligned_address), a .sync collective whose
// membermask names lanes that did not arrive and mma.sync in a partial warp (illegal_instruction), trap, and launch
// checks (.maxntid, block size, shared memory). Messages name the kernel, block, thread and instruction.
#include "check.h"
#include "ptx/harness.h"
#include "ptx_check.h"

using ptxtest::Args;
using pdemu::LaunchStatus;

namespace {
const char* kRegs = "\t.reg .pred %p<9>;\n\t.reg .b32 %r<20>;\n\t.reg .b64 %rd<20>;\n";

struct Fault {
    ptxtest::TestMemory mem{true};
    pdemu::LaunchResult r;
    uint64_t buf = 0;
    Fault(const std::string& body, pdemu::Dim3 block = {32, 1, 1}, pdemu::Dim3 grid = {1, 1, 1}, std::string head = "",
          std::string decls = "", unsigned threads = 1, uint32_t buf_bytes = 64, bool free_first = false) {
        auto m = ptxtest::load_checked(ptxtest::ptx(".visible .entry faulty(.param .u64 buf)\n" + head + "{\n" + kRegs + decls +
                                                    "\tld.param.u64 %rd1, [buf];\n\tmov.u32 %r1, %tid.x;\n\tmov.u32 %r2, %ctaid.x;\n" +
                                                    body + "\tret;\n}\n"),
                                       mem);
        if (!m) return;
        buf = mem.alloc(buf_bytes);
        if (free_first) mem.free(buf);
        Args a;
        a.add(buf);
        r = ptxtest::run(*m, "faulty", grid, block, a, mem, 0, pdemu::RaceCheck::off, threads);
    }
    bool says(const char* s) const {
        bool ok = r.message.find(s) != std::string::npos;
        if (!ok) std::fprintf(stderr, "message lacks '%s': %s\n", s, r.message.c_str());
        return ok;
    }
};
}  // namespace

TEST(global_past_the_end) {
    // thread 16 reads 4 bytes at offset 64 of a 64-byte allocation
    Fault f("\tmul.wide.u32 %rd2, %r1, 4;\n\tadd.s64 %rd3, %rd1, %rd2;\n\tld.global.u32 %r3, [%rd3];\n");
    CHECK(f.r.status == LaunchStatus::illegal_address);
    CHECK(f.says("kernel faulty"));
    CHECK(f.says("block (0,0,0)"));
    CHECK(f.says("thread (16,0,0)"));
    CHECK(f.says("ld.global.u32 %r3, [%rd3]"));
    CHECK(f.says("past the end"));
}

TEST(global_freed_memory_and_no_range_cache) {
    Fault f("\tld.global.u32 %r3, [%rd1];\n", {1, 1, 1}, {1, 1, 1}, "", "", 1, 64, true);
    CHECK(f.r.status == LaunchStatus::illegal_address);
    CHECK(f.says("not inside any allocation"));
}

TEST(shared_out_of_bounds) {
    Fault f("\tmov.u32 %r3, sbuf;\n\tshl.b32 %r4, %r1, 2;\n\tadd.s32 %r5, %r3, %r4;\n\tst.shared.u32 [%r5], %r1;\n", {32, 1, 1},
            {1, 1, 1}, "", "\t.shared .align 4 .b8 sbuf[64];\n");
    CHECK(f.r.status == LaunchStatus::illegal_address);
    CHECK(f.says("thread (16,0,0)"));
    CHECK(f.says("shared offset 0x40"));
}

TEST(local_out_of_bounds) {
    Fault f("\tmov.u64 %rd2, depot;\n\tst.local.u32 [%rd2+16], %r1;\n", {1, 1, 1}, {1, 1, 1}, "",
            "\t.local .align 4 .b8 depot[16];\n");
    CHECK(f.r.status == LaunchStatus::illegal_address);
    CHECK(f.says("local offset 0x10"));
}

TEST(misaligned_vector_load) {
    Fault f("\tld.global.v4.u32 {%r3, %r4, %r5, %r6}, [%rd1+4];\n", {1, 1, 1});
    CHECK(f.r.status == LaunchStatus::misaligned_address);
    CHECK(f.says("not aligned to 16 bytes"));
    Fault g("\tld.global.u32 %r3, [%rd1+2];\n", {1, 1, 1});
    CHECK(g.r.status == LaunchStatus::misaligned_address);
}

TEST(membermask_mismatch) {
    // lanes 0..15 reach a shfl.sync whose mask names all 32 lanes
    Fault f("\tsetp.lt.u32 %p1, %r1, 16;\n\t@!%p1 bra $Lend;\n\tshfl.sync.bfly.b32 %r3, %r1, 1, 31, -1;\n$Lend:\n");
    CHECK(f.r.status == LaunchStatus::illegal_instruction);
    CHECK(f.says("membermask 0xffffffff"));
    CHECK(f.says("0x0000ffff"));
    Fault g("\tshfl.sync.bfly.b32 %r3, %r1, 1, 31, 0xfffffffe;\n");   // lane 0 is not in its own mask
    CHECK(g.r.status == LaunchStatus::illegal_instruction);
}

TEST(mma_in_partial_warp) {
    Fault f("\t.reg .f32 %f<9>;\n\tmma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%f1, %f2, %f3, %f4}, {%r1, %r2, %r3, %r4}, "
            "{%r5, %r6}, {%f5, %f6, %f7, %f8};\n", {16, 1, 1});
    CHECK(f.r.status == LaunchStatus::illegal_instruction);
    CHECK(f.says("all 32 lanes"));
}

TEST(trap_and_first_faulting_block_reported) {
    Fault f("\tsetp.eq.u32 %p1, %r2, 5;\n\t@%p1 trap;\n", {32, 1, 1}, {16, 1, 1}, "", "", 2);
    CHECK(f.r.status == LaunchStatus::illegal_instruction);
    CHECK(f.says("block (5,0,0)"));
    CHECK(f.says("trap"));
}

TEST(launch_limits) {
    Fault f("", {256, 1, 1}, {1, 1, 1}, ".maxntid 128, 1, 1\n");
    CHECK(f.r.status == LaunchStatus::out_of_resources);
    Fault g("", {1025, 1, 1});
    CHECK(g.r.status == LaunchStatus::invalid_value);
    Fault h("", {0, 1, 1});
    CHECK(h.r.status == LaunchStatus::invalid_value);
    ptxtest::TestMemory mem;
    std::string err;
    auto m = pdemu::load_ptx(ptxtest::ptx(".visible .entry k()\n{\n\tret;\n}\n"), mem, &err);
    CHECK(m != nullptr);
    if (!m) return;
    Args a;
    auto r = ptxtest::run(*m, "k", {1, 1, 1}, {32, 1, 1}, a, mem, 228 * 1024);
    CHECK(r.status == LaunchStatus::out_of_resources);
    r = ptxtest::run(*m, "k", {1, 1, 1}, {32, 1, 1}, a, mem, 227 * 1024);
    CHECK(r.status == LaunchStatus::ok);
}

PDEMU_TEST_MAIN
