// AVX2 + FMA variant (x86-64 only), selected at run time when the CPU supports both.
#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <cstring>

#pragma GCC target("avx2,fma")

namespace gs {
namespace {

// 6 x 16 register tile: 12 accumulators, 2 B vectors and one broadcast out of 16 ymm registers.
struct MicroAvx2 {
  static constexpr int MR = 6;
  static constexpr int NR = 16;
  static constexpr idx KC = 256;
  static constexpr idx MC = 120;
  static constexpr idx NC = 2048;
  static constexpr bool kMaskedPartial = false;

  static inline __attribute__((always_inline)) void compute(idx kc, const float* ap, const float* bp,
                                                            __m256 (&acc)[MR][2]) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (idx p = 0; p < kc; ++p) {
      const __m256 b0 = _mm256_load_ps(bp);
      const __m256 b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 6
      for (int i = 0; i < MR; ++i) {
        const __m256 av = _mm256_broadcast_ss(ap + i);
        acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
      }
      ap += MR;
      bp += NR;
    }
  }

  __attribute__((noinline)) static void tile(idx kc, const float* ap, const float* bp, float* out, idx /*mr*/) {
    __m256 acc[MR][2];
    compute(kc, ap, bp, acc);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      _mm256_store_ps(out + i * NR, acc[i][0]);
      _mm256_store_ps(out + i * NR + 8, acc[i][1]);
    }
  }

  __attribute__((noinline)) static void full(idx kc, const float* ap, const float* bp, float* c, idx ldc, float alpha,
                                             float beta, int mode) {
    __m256 acc[MR][2];
    compute(kc, ap, bp, acc);
    const __m256 va = _mm256_set1_ps(alpha);
    const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      float* d = c + i * ldc;
      __m256 r0 = _mm256_mul_ps(acc[i][0], va);
      __m256 r1 = _mm256_mul_ps(acc[i][1], va);
      if (mode == 1) {
        r0 = _mm256_add_ps(r0, _mm256_loadu_ps(d));
        r1 = _mm256_add_ps(r1, _mm256_loadu_ps(d + 8));
      } else if (mode == 2) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(d), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(d + 8), r1);
      }
      _mm256_storeu_ps(d, r0);
      _mm256_storeu_ps(d + 8, r1);
    }
  }
};

// Short rows with masked vectors (see kernels.inc).
#define GS_HAVE_ROW_OPS 1

static inline __m256i first_lanes(idx n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline void row_copy(float* d, const float* s, idx n) {
  idx i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_loadu_ps(s + i));
  if (i < n) {
    const __m256i m = first_lanes(n - i);
    _mm256_maskstore_ps(d + i, m, _mm256_maskload_ps(s + i, m));
  }
}

static inline void row_add(float* d, const float* s, idx n) {
  idx i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_add_ps(_mm256_loadu_ps(d + i), _mm256_loadu_ps(s + i)));
  if (i < n) {
    const __m256i m = first_lanes(n - i);
    _mm256_maskstore_ps(d + i, m, _mm256_add_ps(_mm256_maskload_ps(d + i, m), _mm256_maskload_ps(s + i, m)));
  }
}

static inline void row_zero(float* d, idx n) {
  idx i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_setzero_ps());
  if (i < n) _mm256_maskstore_ps(d + i, first_lanes(n - i), _mm256_setzero_ps());
}

#include "gemm.inc"
#include "kernels.inc"

}  // namespace

extern const Kernels kernels_avx2;
const Kernels kernels_avx2 = GS_KERNEL_TABLE("avx2", &gemm_entry<MicroAvx2>);

}  // namespace gs
#endif
