// AVX2 + FMA variant (x86-64 only), selected at run time when the CPU supports both.
#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <cstring>

#pragma GCC target("avx2,fma")

namespace gs {
namespace {

static inline __m256i first_lanes(idx n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Stores one row of up to 16 results: d <- alpha r (+ d, or + beta d); columns from nr on untouched.
template <bool Full>
static inline __attribute__((always_inline)) void store_row(float* d, __m256 r0, __m256 r1, __m256 va, __m256 vb,
                                                            int mode, __m256i m0, __m256i m1) {
  r0 = _mm256_mul_ps(r0, va);
  r1 = _mm256_mul_ps(r1, va);
  if (Full) {
    if (mode == 1) {
      r0 = _mm256_add_ps(r0, _mm256_loadu_ps(d));
      r1 = _mm256_add_ps(r1, _mm256_loadu_ps(d + 8));
    } else if (mode == 2) {
      r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(d), r0);
      r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(d + 8), r1);
    }
    _mm256_storeu_ps(d, r0);
    _mm256_storeu_ps(d + 8, r1);
  } else {
    if (mode == 1) {
      r0 = _mm256_add_ps(r0, _mm256_maskload_ps(d, m0));
      r1 = _mm256_add_ps(r1, _mm256_maskload_ps(d + 8, m1));
    } else if (mode == 2) {
      r0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(d, m0), r0);
      r1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(d + 8, m1), r1);
    }
    _mm256_maskstore_ps(d, m0, r0);
    _mm256_maskstore_ps(d + 8, m1, r1);
  }
}

// 6 x 16 register tile: 12 accumulators, 2 B vectors and one broadcast out of 16 ymm registers.
struct MicroAvx2 {
  static constexpr int MR = 6;
  static constexpr int NR = 16;
  static constexpr idx KC = 256;
  static constexpr idx MC = 120;
  static constexpr idx NC = 2048;
  static constexpr bool kMaskedPartial = true;

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

  __attribute__((noinline)) static void partial(idx kc, const float* ap, const float* bp, float* c, idx ldc,
                                                float alpha, float beta, int mode, idx mr, idx nr) {
    __m256 acc[MR][2];
    compute(kc, ap, bp, acc);
    const __m256 va = _mm256_set1_ps(alpha);
    const __m256 vb = _mm256_set1_ps(beta);
    const __m256i m0 = first_lanes(nr);
    const __m256i m1 = first_lanes(nr - 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      if (i < mr) store_row<false>(c + i * ldc, acc[i][0], acc[i][1], va, vb, mode, m0, m1);
    }
  }

  __attribute__((noinline)) static void full(idx kc, const float* ap, const float* bp, float* c, idx ldc, float alpha,
                                             float beta, int mode) {
    __m256 acc[MR][2];
    compute(kc, ap, bp, acc);
    const __m256 va = _mm256_set1_ps(alpha);
    const __m256 vb = _mm256_set1_ps(beta);
    const __m256i all = _mm256_set1_epi32(-1);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) store_row<true>(c + i * ldc, acc[i][0], acc[i][1], va, vb, mode, all, all);
  }
};

// C has at most 16 columns: two masked vectors per row of C. op(B) is packed into rows of 16, a depth block at a
// time; A is read in place, R rows of C at a time.
template <int R>
static inline __attribute__((always_inline)) void narrow_rows(bool ta, idx k, const float* a, idx lda, const float* bp,
                                                              float* c, idx ldc, __m256i m0, __m256i m1, float alpha,
                                                              float beta) {
  __m256 acc[R][2];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (idx p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_load_ps(bp + 16 * p);
    const __m256 b1 = _mm256_load_ps(bp + 16 * p + 8);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(ta ? a + p * lda + r : a + r * lda + p);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha);
  const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) store_row<false>(c + r * ldc, acc[r][0], acc[r][1], va, vb, beta == 0.0f ? 0 : 2, m0, m1);
}

// Short rows with masked vectors (see kernels.inc).
#define GS_HAVE_ROW_OPS 1

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

static void gemm_narrow(bool ta, bool tb, idx m, idx n, idx k, float alpha, const float* a, idx lda, const float* b,
                        idx ldb, float beta, float* c, idx ldc) {
  constexpr idx KB = 2048;  // depth block: op(B) is packed KB rows at a time
  float* bp = scratch(0, static_cast<std::size_t>((k < KB ? k : KB) * 16));
  const __m256i m0 = first_lanes(n);
  const __m256i m1 = first_lanes(n - 8);
  for (idx p0 = 0; p0 < k; p0 += KB) {
    const idx kb = k - p0 < KB ? k - p0 : KB;
    if (!tb) {
      for (idx p = 0; p < kb; ++p) {
        const float* src = b + (p0 + p) * ldb;
        _mm256_store_ps(bp + 16 * p, _mm256_maskload_ps(src, m0));
        _mm256_store_ps(bp + 16 * p + 8, _mm256_maskload_ps(src + 8, m1));
      }
    } else {
      transpose_pack(b + p0, ldb, n, 16, kb, bp, 16);
    }
    const float bt = p0 == 0 ? beta : 1.0f;
    const float* ak = ta ? a + p0 * lda : a + p0;
    constexpr int R = 6;
    idx i = 0;
    for (; i + R <= m; i += R) {
      narrow_rows<R>(ta, kb, ta ? ak + i : ak + i * lda, lda, bp, c + i * ldc, ldc, m0, m1, alpha, bt);
    }
    for (; i < m; ++i) narrow_rows<1>(ta, kb, ta ? ak + i : ak + i * lda, lda, bp, c + i * ldc, ldc, m0, m1, alpha, bt);
  }
}

void sgemm(bool ta, bool tb, idx m, idx n, idx k, float alpha, const float* a, idx lda, const float* b, idx ldb,
           float beta, float* c, idx ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_c(m, n, beta, c, ldc);
  } else if (n <= 16) {
    gemm_narrow(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    gemm_blocked<MicroAvx2>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

}  // namespace

extern const Kernels kernels_avx2;
const Kernels kernels_avx2 = GS_KERNEL_TABLE("avx2", &sgemm);

}  // namespace gs
#endif
