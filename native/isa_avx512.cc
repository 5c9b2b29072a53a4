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

  static void tile(idx kc, const float* ap, const float* bp, float* out) {
    __m512 acc[MR][NV];
    compute(kc, ap, bp, acc);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm512_store_ps(out + i * NR + 16 * v, acc[i][v]);
    }
  }

  static void full(idx kc, const float* ap, const float* bp, float* c, idx ldc, float alpha, float beta, int mode) {
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
#include "elementwise.inc"

using Wide = MicroZ<12, 2, 256, 144, 4096>;
using Narrow = MicroZ<16, 1, 256, 128, 4096>;

void sgemm(bool ta, bool tb, idx m, idx n, idx k, float alpha, const float* a, idx lda, const float* b, idx ldb,
           float beta, float* c, idx ldc) {
  if (n <= 16) {
    gemm_entry<Narrow>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    gemm_entry<Wide>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

}  // namespace

extern const Kernels kernels_avx512;
const Kernels kernels_avx512 = {
    "avx512",
    &sgemm,
    &k_axpy,
    &k_average,
};

}  // namespace gs
#endif
