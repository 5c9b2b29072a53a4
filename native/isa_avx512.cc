// AVX-512 (F, VL, BW, DQ) variant, x86-64 only, selected at run time when the CPU supports it.
#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <cstring>

#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prfchw,prefer-vector-width=512")
// GCC 12 reports the conditionally loaded rows of transpose16 as possibly uninitialised; they are not.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace gs {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// Packing with 16 x 16 transposes in registers (full 64-byte rows written) and masked copies.

#define GS_HAVE_PACKING 1

static inline idx lesser(idx a, idx b) { return a < b ? a : b; }

// Transposes a block of up to 16 x 16: dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols; output rows hold
// `width` values (entries from `rows` to `width` are zeros).
static inline __attribute__((always_inline)) void transpose16(const float* src, idx lds, int rows, int cols,
                                                              float* dst, idx ldd, int width) {
  const __mmask16 cmask = static_cast<__mmask16>((1u << cols) - 1u);
  __m512 r[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(cmask, src + i * lds) : _mm512_setzero_ps();
  __m512 t[16], u[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4q + c], lane L = column 4L + c of rows 4q .. 4q+3.
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    u[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
    u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
    u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
    u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
  }
  const __mmask16 wmask = static_cast<__mmask16>((1u << width) - 1u);
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    const __m512 y0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
    const __m512 y1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
    const __m512 y2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
    const __m512 y3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
    const __m512 o[4] = {_mm512_shuffle_f32x4(y0, y2, 0x88), _mm512_shuffle_f32x4(y0, y2, 0xDD),
                         _mm512_shuffle_f32x4(y1, y3, 0x88), _mm512_shuffle_f32x4(y1, y3, 0xDD)};
#pragma GCC unroll 4
    for (int l = 0; l < 4; ++l) {
      const int j = 4 * l + c;
      if (j < cols) _mm512_mask_storeu_ps(dst + j * ldd, wmask, o[l]);
    }
  }
}

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols; rows from `rows` up to `rpad` are written as zeros.
static void transpose_pack(const float* src, idx lds, idx rows, idx rpad, idx cols, float* dst, idx ldd) {
  for (idx r = 0; r < rpad; r += 16) {
    const int nr = static_cast<int>(lesser(16, rows - r > 0 ? rows - r : 0));
    const int width = static_cast<int>(lesser(16, rpad - r));
    for (idx c = 0; c < cols; c += 16) {
      const int nc = static_cast<int>(lesser(16, cols - c));
      if (nr == 16 && nc == 16 && width == 16) {
        transpose16(src + r * lds + c, lds, 16, 16, dst + c * ldd + r, ldd, 16);
      } else {
        transpose16(src + r * lds + c, lds, nr, nc, dst + c * ldd + r, ldd, width);
      }
    }
  }
}

// Strips of W columns, each stored as rows of W values (zero-padded); see the generic version in gemm.inc.
template <int W>
static void copy_pack(const float* src, idx lds, idx rows, idx cols, float* dst) {
  constexpr int NV = (W + 15) / 16;
  const idx strips = (cols + W - 1) / W;
  for (idx p = 0; p < rows; ++p) {
    const float* s = src + p * lds;
    float* d = dst + p * W;
    for (idx st = 0; st < strips; ++st) {
      const idx j0 = st * W;
      const idx rest = cols - j0;
      float* dj = d + j0 * rows;
      if (rest >= W) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          const int n = W - 16 * v < 16 ? W - 16 * v : 16;
          const __mmask16 m = static_cast<__mmask16>((1u << n) - 1u);
          _mm512_mask_storeu_ps(dj + 16 * v, m, _mm512_maskz_loadu_ps(m, s + j0 + 16 * v));
        }
      } else {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          const int n = W - 16 * v < 16 ? W - 16 * v : 16;
          const idx have = rest - 16 * v;
          const int ln = have <= 0 ? 0 : (have < n ? static_cast<int>(have) : n);
          const __mmask16 lm = static_cast<__mmask16>((1u << ln) - 1u);
          const __mmask16 m = static_cast<__mmask16>((1u << n) - 1u);
          _mm512_mask_storeu_ps(dj + 16 * v, m, _mm512_maskz_loadu_ps(lm, s + j0 + 16 * v));
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Micro-kernels

// MR x (16 NV) register tile: MR * NV zmm accumulators, NV B vectors per k, A broadcast from memory. The B strip is
// streamed from L2 with software prefetch PF iterations ahead.
template <int MR_, int NV, idx KC_, idx MC_, idx NC_, int PF = 8>
struct MicroZ {
  static constexpr int MR = MR_;
  static constexpr int NR = 16 * NV;
  static constexpr idx KC = KC_;
  static constexpr idx MC = MC_;
  static constexpr idx NC = NC_;

  // The first R rows of the tile (A strips are MR wide).
  template <int R>
  static inline __attribute__((always_inline)) void compute(idx kc, const float* ap, const float* bp,
                                                            __m512 (&acc)[MR][NV]) {
#pragma GCC unroll 32
    for (int i = 0; i < R; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    }
    for (idx p = 0; p < kc; ++p) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(bp + PF * NR + 16 * v), _MM_HINT_T0);
      __m512 bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(bp + 16 * v);
#pragma GCC unroll 32
      for (int i = 0; i < R; ++i) {
        const __m512 av = _mm512_set1_ps(ap[i]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
      }
      ap += MR;
      bp += NR;
    }
  }

  static constexpr bool kMaskedPartial = true;

  // Stores the first R rows (of which mr are kept) of the tile: C <- alpha acc (+ C, or + beta C), with the columns
  // from nr on masked off.
  template <int R, bool Full>
  static inline __attribute__((always_inline)) void store(const __m512 (&acc)[MR][NV], float* c, idx ldc, float alpha,
                                                          float beta, int mode, idx mr, idx nr) {
    const __m512 va = _mm512_set1_ps(alpha);
    const __m512 vb = _mm512_set1_ps(beta);
    __mmask16 masks[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const idx left = nr - 16 * v;
      masks[v] = Full || left >= 16 ? static_cast<__mmask16>(0xFFFF)
                                    : static_cast<__mmask16>(left <= 0 ? 0u : (1u << left) - 1u);
    }
#pragma GCC unroll 32
    for (int i = 0; i < R; ++i) {
      if (!Full && i >= mr) break;
      float* d = c + i * ldc;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        __m512 r = _mm512_mul_ps(acc[i][v], va);
        if (Full) {
          if (mode == 1) {
            r = _mm512_add_ps(r, _mm512_loadu_ps(d + 16 * v));
          } else if (mode == 2) {
            r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(d + 16 * v), r);
          }
          _mm512_storeu_ps(d + 16 * v, r);
        } else {
          if (mode == 1) {
            r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(masks[v], d + 16 * v));
          } else if (mode == 2) {
            r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(masks[v], d + 16 * v), r);
          }
          _mm512_mask_storeu_ps(d + 16 * v, masks[v], r);
        }
      }
    }
  }

  template <int R>
  static inline __attribute__((always_inline)) void partial_rows(idx kc, const float* ap, const float* bp, float* c,
                                                                 idx ldc, float alpha, float beta, int mode, idx mr,
                                                                 idx nr) {
    __m512 acc[MR][NV];
    compute<R>(kc, ap, bp, acc);
    store<R, false>(acc, c, ldc, alpha, beta, mode, mr, nr);
  }

  __attribute__((noinline)) static void partial(idx kc, const float* ap, const float* bp, float* c, idx ldc,
                                                float alpha, float beta, int mode, idx mr, idx nr) {
    if (MR > 4 && mr <= 4) {
      partial_rows<(MR > 4 ? 4 : MR)>(kc, ap, bp, c, ldc, alpha, beta, mode, mr, nr);
    } else if (MR > 8 && mr <= 8) {
      partial_rows<(MR > 8 ? 8 : MR)>(kc, ap, bp, c, ldc, alpha, beta, mode, mr, nr);
    } else {
      partial_rows<MR>(kc, ap, bp, c, ldc, alpha, beta, mode, mr, nr);
    }
  }

  __attribute__((noinline)) static void full(idx kc, const float* ap, const float* bp, float* c, idx ldc, float alpha,
                                             float beta, int mode) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16 * v), _MM_HINT_ET0);
    }
    __m512 acc[MR][NV];
    compute<MR>(kc, ap, bp, acc);
    store<MR, true>(acc, c, ldc, alpha, beta, mode, MR, NR);
  }
};

// ---------------------------------------------------------------------------------------------------------------
// Short rows and 2 x 2 pooling with masked vectors (see kernels.inc)

#define GS_HAVE_ROW_OPS 1

static inline __mmask16 first_lanes(idx n) { return static_cast<__mmask16>((1u << n) - 1u); }

static inline void row_copy(float* d, const float* s, idx n) {
  idx i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_loadu_ps(s + i));
  if (i < n) {
    const __mmask16 m = first_lanes(n - i);
    _mm512_mask_storeu_ps(d + i, m, _mm512_maskz_loadu_ps(m, s + i));
  }
}

static inline void row_add(float* d, const float* s, idx n) {
  idx i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_add_ps(_mm512_loadu_ps(d + i), _mm512_loadu_ps(s + i)));
  if (i < n) {
    const __mmask16 m = first_lanes(n - i);
    _mm512_mask_storeu_ps(d + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d + i), _mm512_maskz_loadu_ps(m, s + i)));
  }
}

static inline void row_zero(float* d, idx n) {
  idx i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_setzero_ps());
  if (i < n) _mm512_mask_storeu_ps(d + i, first_lanes(n - i), _mm512_setzero_ps());
}

#define GS_HAVE_POOL2_ROW 1

static inline void pool2_row(const float* r0, idx w, idx ow, std::int32_t at, float* y, std::int32_t* arg) {
  const float* r1 = r0 + w;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i wv = _mm512_set1_epi32(static_cast<std::int32_t>(w));
  for (idx ox = 0; ox < ow; ox += 16) {
    const idx count = ow - ox < 16 ? ow - ox : 16;
    const idx inputs = 2 * count;  // within the row: 2 ow <= w
    const __mmask16 mlo = inputs >= 16 ? static_cast<__mmask16>(0xFFFF) : first_lanes(inputs);
    const __mmask16 mhi = inputs > 16 ? first_lanes(inputs - 16) : static_cast<__mmask16>(0);
    const float* p0 = r0 + 2 * ox;
    const float* p1 = r1 + 2 * ox;
    const __m512 a0 = _mm512_maskz_loadu_ps(mlo, p0), b0 = _mm512_maskz_loadu_ps(mhi, p0 + 16);
    const __m512 a1 = _mm512_maskz_loadu_ps(mlo, p1), b1 = _mm512_maskz_loadu_ps(mhi, p1 + 16);
    const __m512 v1 = _mm512_permutex2var_ps(a0, odd, b0);
    const __m512 v2 = _mm512_permutex2var_ps(a1, even, b1);
    const __m512 v3 = _mm512_permutex2var_ps(a1, odd, b1);
    __m512 bv = _mm512_permutex2var_ps(a0, even, b0);
    const __m512i base = _mm512_add_epi32(_mm512_set1_epi32(at + 2 * static_cast<std::int32_t>(ox)), even);
    __m512i bi = base;
    __mmask16 gt = _mm512_cmp_ps_mask(v1, bv, _CMP_GT_OQ);
    bv = _mm512_mask_mov_ps(bv, gt, v1);
    bi = _mm512_mask_mov_epi32(bi, gt, _mm512_add_epi32(base, one));
    gt = _mm512_cmp_ps_mask(v2, bv, _CMP_GT_OQ);
    bv = _mm512_mask_mov_ps(bv, gt, v2);
    bi = _mm512_mask_mov_epi32(bi, gt, _mm512_add_epi32(base, wv));
    gt = _mm512_cmp_ps_mask(v3, bv, _CMP_GT_OQ);
    bv = _mm512_mask_mov_ps(bv, gt, v3);
    bi = _mm512_mask_mov_epi32(bi, gt, _mm512_add_epi32(_mm512_add_epi32(base, wv), one));
    const __mmask16 out = first_lanes(count);
    _mm512_mask_storeu_ps(y + ox, out, bv);
    _mm512_mask_storeu_epi32(arg + ox, out, bi);
  }
}

#include "gemm.inc"
#include "kernels.inc"

using Wide = MicroZ<12, 2, 256, 144, 512>;

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
  constexpr idx KB = 2048;  // depth block: op(B) is packed KB rows at a time
  float* bp = scratch(0, static_cast<std::size_t>((k < KB ? k : KB) * 16));
  const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1u);
  for (idx p0 = 0; p0 < k; p0 += KB) {
    const idx kb = k - p0 < KB ? k - p0 : KB;
    if (!tb) {
      for (idx p = 0; p < kb; ++p) _mm512_store_ps(bp + 16 * p, _mm512_maskz_loadu_ps(mask, b + (p0 + p) * ldb));
    } else {
      transpose_pack(b + p0, ldb, n, 16, kb, bp, 16);
    }
    const float bt = p0 == 0 ? beta : 1.0f;
    const float* ak = ta ? a + p0 * lda : a + p0;
    constexpr int R = 8;
    idx i = 0;
    for (; i + R <= m; i += R) {
      narrow_rows<R>(ta, kb, ta ? ak + i : ak + i * lda, lda, bp, c + i * ldc, ldc, mask, alpha, bt);
    }
    for (; i < m; ++i) narrow_rows<1>(ta, kb, ta ? ak + i : ak + i * lda, lda, bp, c + i * ldc, ldc, mask, alpha, bt);
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
    gemm_blocked<Wide>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

}  // namespace

extern const Kernels kernels_avx512;
const Kernels kernels_avx512 = GS_KERNEL_TABLE("avx512", &sgemm);

}  // namespace gs
#endif
