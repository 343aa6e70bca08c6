// ADAENSEMBLE_CPU_CLONES marks a float kernel to be compiled once per x86-64
// instruction-set level and picked at load time (GCC function
// multi-versioning), so a portable build still runs AVX-512 or AVX2 + FMA
// loops where the CPU has them. Elsewhere it expands to nothing.
#pragma once

#if defined(__GNUC__) && __GNUC__ >= 12 && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__)
#define ADAENSEMBLE_CPU_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ADAENSEMBLE_CPU_CLONES
#endif
