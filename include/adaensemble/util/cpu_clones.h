// Two macros for the library's float kernels (internal, not API).
// ADAENSEMBLE_CPU_CLONES compiles a function once per x86-64 level (v4: AVX-512, v3: AVX2 + FMA,
// baseline) and picks one at load time; GCC 12 on x86-64 Linux is the first
// to accept those level names in target_clones. Elsewhere it expands to nothing.
#pragma once

#if defined(__GNUC__) && __GNUC__ >= 12 && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__)
#define ADAENSEMBLE_CPU_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ADAENSEMBLE_CPU_CLONES
#endif

// ADAENSEMBLE_INLINE forces a helper inline into each clone that calls it, so
// that every clone vectorises it for its own instruction set.
#if defined(__GNUC__)
#define ADAENSEMBLE_INLINE inline __attribute__((always_inline))
#else
#define ADAENSEMBLE_INLINE inline
#endif
