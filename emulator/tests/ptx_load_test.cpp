// Loads the full nvcc output for our kernels (kernels/src/*.cu compiled with nvcc -ptx at build time) and checks
// that every instruction is accepted; also checks that load errors name the line and its text.
#include <fstream>
#include <sstream>

#include "check.h"
#include "ptx/harness.h"

#ifndef PDEMU_KERNELS_PTX
#define PDEMU_KERNELS_PTX ""
#endif

static std::string read_file(const char* path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

TEST(full_kernels_ptx_loads) {
    std::string path = PDEMU_KERNELS_PTX;
    if (path.empty()) {
        std::fprintf(stderr, "SKIPPED full_kernels_ptx_loads: nvcc was not found at configure time, no kernels PTX\n");
        return;
    }
    std::string text = read_file(path.c_str());
    CHECK(!text.empty());
    ptxtest::TestMemory mem;
    std::string err;
    auto m = pdemu::load_ptx(text, mem, &err);
    CHECK_EQ(err, std::string());
    CHECK(m != nullptr);
    if (!m) return;
    // every .entry in the text is a kernel of the module
    size_t entries = 0;
    for (size_t p = text.find(".entry"); p != std::string::npos; p = text.find(".entry", p + 1)) ++entries;
    CHECK_EQ(m->kernel_names().size(), entries);
    const pdemu::Kernel* att = m->kernel("attention_f16_d64");
    CHECK(att != nullptr);
    if (att) {
        CHECK_EQ(att->params().size(), size_t(13));
        CHECK_EQ(att->max_threads_per_block(), 128u);
    }
    CHECK(m->global("__cudart_i2opi_f", nullptr) != 0 || text.find("__cudart_i2opi_f") == std::string::npos);
}

TEST(unknown_instruction_is_rejected_with_its_text) {
    ptxtest::TestMemory mem;
    std::string err;
    auto m = pdemu::load_ptx(ptxtest::ptx(".visible .entry k()\n{\n\t.reg .b32 %r<3>;\n\tfrobnicate.b32 %r1, %r2;\n\tret;\n}\n"), mem, &err);
    CHECK(m == nullptr);
    CHECK(err.find("line 8") != std::string::npos);
    CHECK(err.find("frobnicate.b32 %r1, %r2") != std::string::npos);
    CHECK(err.find("unsupported instruction") != std::string::npos);
}

TEST(unsupported_form_is_rejected) {
    ptxtest::TestMemory mem;
    std::string err;
    auto m = pdemu::load_ptx(ptxtest::ptx(".visible .entry k()\n{\n\t.reg .b32 %r<3>;\n\tbar.sync 1, 64;\n\tret;\n}\n"), mem, &err);
    CHECK(m == nullptr);
    CHECK(err.find("bar.sync 1, 64") != std::string::npos);
    m = pdemu::load_ptx(ptxtest::ptx(".visible .entry k()\n{\n\t.reg .b32 %r<3>;\n\tadd.s32 %r1, %r9, 1;\n\tret;\n}\n"), mem, &err);
    CHECK(m == nullptr);
    CHECK(err.find("%r9") != std::string::npos);
}

PDEMU_TEST_MAIN
