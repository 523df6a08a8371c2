// Assertions shared by the native tests: a failed check prints where and why and counts,
// so one run reports every failure; main() returns non-zero when `failures` is not 0.
#pragma once

#include <cstdio>

inline int failures = 0;

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                                   \
    }                                                                               \
  } while (0)

#define CHECK_EQ(a, b)                                                                                     \
  do {                                                                                                     \
    auto va = (a);                                                                                         \
    auto vb = (b);                                                                                         \
    if (!(va == vb)) {                                                                                     \
      std::fprintf(stderr, "%s:%d: CHECK_EQ failed: %s (%lld, 0x%llx) != %s (%lld, 0x%llx)\n", __FILE__,   \
                   __LINE__, #a, static_cast<long long>(va), static_cast<unsigned long long>(va), #b,      \
                   static_cast<long long>(vb), static_cast<unsigned long long>(vb));                       \
      ++failures;                                                                                          \
    }                                                                                                      \
  } while (0)
