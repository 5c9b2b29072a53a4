// Portable variant: plain C++ compiled for the baseline of the target (SSE2 on x86-64), no intrinsics.
#include <cstring>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "common.h"

namespace gs {
namespace {

// Register tile of 4 x 8 accumulators kept in plain arrays; the compiler maps them to vector registers.
struct MicroScalar {
  static constexpr int MR = 4;
  static constexpr int NR = 8;
  static constexpr idx KC = 256;
  static constexpr idx MC = 128;
  static constexpr idx NC = 2048;
  static constexpr bool kMaskedPartial = false;

  static void tile(idx kc, const float* ap, const float* bp, float* acc, idx /*mr*/) {
    float t[MR][NR] = {};
    for (idx p = 0; p < kc; ++p) {
      const float* bv = bp + p * NR;
      const float* av = ap + p * MR;
      for (int i = 0; i < MR; ++i) {
        for (int j = 0; j < NR; ++j) t[i][j] += av[i] * bv[j];
      }
    }
    std::memcpy(acc, t, sizeof t);
  }
  static void full(idx kc, const float* ap, const float* bp, float* c, idx ldc, float alpha, float beta, int mode);
};

#include "gemm.inc"

void MicroScalar::full(idx kc, const float* ap, const float* bp, float* c, idx ldc, float alpha, float beta, int mode) {
  alignas(64) float acc[MR * NR];
  tile(kc, ap, bp, acc, MR);
  store_partial(acc, NR, c, ldc, MR, NR, alpha, beta, mode);
}

#include "kernels.inc"

}  // namespace

extern const Kernels kernels_scalar;
const Kernels kernels_scalar = GS_KERNEL_TABLE("scalar", &gemm_entry<MicroScalar>);

}  // namespace gs
