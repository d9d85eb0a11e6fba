// A minimal test harness for the emulator's own tests: CHECK/CHECK_EQ/CHECK_NEAR record failures with file:line,
// TEST(name) registers a case, and main() (from PDEMU_TEST_MAIN) runs them all and exits non-zero on any failure.
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace pdemu_test {
struct Case { const char* name; std::function<void()> fn; };
inline std::vector<Case>& cases() { static std::vector<Case> c; return c; }
inline int& failures() { static int f = 0; return f; }
struct Register { Register(const char* n, std::function<void()> f) { cases().push_back({n, std::move(f)}); } };
inline void fail(const char* file, int line, const std::string& what) {
    std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
    ++failures();
}
template <class A, class B> std::string show(const A& a, const B& b) {
    std::ostringstream o; o << "got " << a << ", expected " << b; return o.str();
}
}  // namespace pdemu_test

#define PDEMU_CAT2(a, b) a##b
#define PDEMU_CAT(a, b) PDEMU_CAT2(a, b)
#define TEST(name) \
    static void name(); \
    static pdemu_test::Register PDEMU_CAT(reg_, name)(#name, name); \
    static void name()
#define CHECK(cond) do { if (!(cond)) pdemu_test::fail(__FILE__, __LINE__, #cond); } while (0)
#define CHECK_EQ(a, b) do { auto _a = (a); auto _b = (b); if (!(_a == _b)) \
    pdemu_test::fail(__FILE__, __LINE__, std::string(#a " == " #b ": ") + pdemu_test::show(_a, _b)); } while (0)
#define CHECK_NEAR(a, b, tol) do { double _a = (a), _b = (b); if (!(std::fabs(_a - _b) <= (tol))) \
    pdemu_test::fail(__FILE__, __LINE__, std::string(#a " ~ " #b ": ") + pdemu_test::show(_a, _b)); } while (0)

#define PDEMU_TEST_MAIN \
    int main() { \
        for (auto& c : pdemu_test::cases()) { \
            int before = pdemu_test::failures(); \
            c.fn(); \
            std::fprintf(stderr, "%s %s\n", pdemu_test::failures() == before ? "ok  " : "FAIL", c.name); \
        } \
        std::fprintf(stderr, "%zu cases, %d failed checks\n", pdemu_test::cases().size(), pdemu_test::failures()); \
        return pdemu_test::failures() == 0 ? 0 : 1; \
    }
