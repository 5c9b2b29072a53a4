// AVX-512 (F, VL, BW, DQ) variant, x86-64 only, selected at run time when the CPU supports it.
#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <cstring>

#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512")

namespace gs {
namespace {

// MR x (16 NV) register tile: MR * NV zmm accumulators, NV B vectors per k, A broadcast from memory.
template <int MR_, int NV, idx KC_, idx MC_, idx NC_>
struct MicroZ {
  static constexpr int MR = MR_;
  static constexpr int NR = 16 * NV;
  static constexpr idx KC = KC_;
  static constexpr idx MC = MC_;
  static constexpr idx NC = NC_;

  static inline __attribute__((always_inline)) void compute(idx kc, const float* ap, const float* bp,
                                                            __m512 (&acc)[MR][NV]) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    }
    for (idx p = 0; p < kc; ++p) {
      __m512 bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(bp + 16 * v);
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i) {
        const __m512 av = _mm512_set1_ps(ap[i]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
      }
      ap += MR;
      bp += NR;
    }
  }

  __attribute__((noinline)) static void tile(idx kc, const float* ap, const float* bp, float* out) {
    __m512 acc[MR][NV];
    compute(kc, ap, bp, acc);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm512_store_ps(out + i * NR + 16 * v, acc[i][v]);
    }
  }

  __attribute__((noinline)) static void full(idx kc, const float* ap, const float* bp, float* c, idx ldc, float alpha, float beta,
                                             int mode) {
    __m512 acc[MR][NV];
    compute(kc, ap, bp, acc);
    const __m512 va = _mm512_set1_ps(alpha);
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      float* d = c + i * ldc;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        __m512 r = _mm512_mul_ps(acc[i][v], va);
        if (mode == 1) {
          r = _mm512_add_ps(r, _mm512_loadu_ps(d + 16 * v));
        } else if (mode == 2) {
          r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(d + 16 * v), r);
        }
        _mm512_storeu_ps(d + 16 * v, r);
      }
    }
  }
};

#include "gemm.inc"
#include "kernels.inc"

using Wide = MicroZ<12, 2, 256, 144, 4096>;

// C has at most 16 columns: one masked vector per row of C. op(B) is packed once into k rows of 16; A is read in
// place (no packing), R rows of C at a time.
template <int R>
static inline __attribute__((always_inline)) void narrow_rows(bool ta, idx k, const float* a, idx lda, const float* bp,
                                                              float* c, idx ldc, __mmask16 mask, float alpha,
                                                              float beta) {
  __m512 acc[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  if (!ta) {
    const float* rows[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) rows[r] = a + r * lda;
    for (idx p = 0; p < k; ++p) {
      const __m512 bv = _mm512_load_ps(bp + 16 * p);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(rows[r][p]), bv, acc[r]);
    }
  } else {
    for (idx p = 0; p < k; ++p) {
      const __m512 bv = _mm512_load_ps(bp + 16 * p);
      const float* ar = a + p * lda;
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(ar[r]), bv, acc[r]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* d = c + r * ldc;
    __m512 v = _mm512_mul_ps(acc[r], va);
    if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, d), v);
    _mm512_mask_storeu_ps(d, mask, v);
  }
}

static void gemm_narrow(bool ta, bool tb, idx m, idx n, idx k, float alpha, const float* a, idx lda, const float* b,
                        idx ldb, float beta, float* c, idx ldc) {
  float* bp = scratch(0, static_cast<std::size_t>(k * 16));
  const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1u);
  if (!tb) {
    for (idx p = 0; p < k; ++p) _mm512_store_ps(bp + 16 * p, _mm512_maskz_loadu_ps(mask, b + p * ldb));
  } else {
    transpose_pack(b, ldb, n, 16, k, bp, 16);
  }
  constexpr int R = 8;
  idx i = 0;
  for (; i + R <= m; i += R) {
    narrow_rows<R>(ta, k, ta ? a + i : a + i * lda, lda, bp, c + i * ldc, ldc, mask, alpha, beta);
  }
  for (; i < m; ++i) narrow_rows<1>(ta, k, ta ? a + i : a + i * lda, lda, bp, c + i * ldc, ldc, mask, alpha, beta);
}

void sgemm(bool ta, bool tb, idx m, idx n, idx k, float alpha, const float* a, idx lda, const float* b, idx ldb,
           float beta, float* c, idx ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_c(m, n, beta, c, ldc);
  } else if (n <= 16) {
    gemm_narrow(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    gemm_blocked<Wide>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

}  // namespace

extern const Kernels kernels_avx512;
const Kernels kernels_avx512 = GS_KERNEL_TABLE("avx512", &sgemm);

}  // namespace gs
#endif
