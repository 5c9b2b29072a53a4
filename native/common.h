// Shared declarations of the native compute backend: the table of kernels that each instruction-set variant fills,
// and the per-thread scratch memory used by packing.
//
// Every kernel variant (scalar, AVX2, AVX-512) is compiled from the same sources in its own translation unit with
// its own target options; the addon picks one table at run time from what the CPU supports. Those translation
// units must not define anything with vague linkage (inline functions, templates) outside an anonymous namespace
// and must not have dynamic initialisers, so that no AVX-512 instruction can run before dispatch.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gs {

using idx = std::int64_t;

struct Kernels {
  const char* isa;

  // C <- alpha op(A) op(B) + beta C; row-major with row strides; beta == 0 ignores the previous contents of C.
  void (*sgemm)(bool ta, bool tb, idx m, idx n, idx k, float alpha, const float* a, idx lda, const float* b, idx ldb,
                float beta, float* c, idx ldc);

  // y <- y + alpha x
  void (*axpy)(idx n, float alpha, const float* x, float* y);
  // a <- (a + b) / 2
  void (*average)(idx n, float* a, const float* b);
};

// Per-thread, 64-byte aligned scratch buffer number `slot` (0..7) holding at least `count` floats; contents undefined.
// Grows as needed and is kept for the life of the thread.
float* scratch(int slot, std::size_t count);

extern const Kernels kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
extern const Kernels kernels_avx2;
extern const Kernels kernels_avx512;
#endif

}  // namespace gs
