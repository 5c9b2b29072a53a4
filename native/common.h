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

// One instruction-set variant of every kernel. Semantics are those of the Backend interface
// (src/engine/backend.ts); the addon checks sizes and indices before calling, so kernels trust their arguments.
// Outputs may alias inputs only where the interface allows it (same array, same offset).
struct Kernels {
  const char* isa;

  // Matrix products. C <- alpha op(A) op(B) + beta C; row-major with row strides; beta == 0 ignores C's contents.
  void (*sgemm)(bool ta, bool tb, idx m, idx n, idx k, float alpha, const float* a, idx lda, const float* b, idx ldb,
                float beta, float* c, idx ldc);

  // Vector operations.
  void (*fill)(idx n, float* x, float value);
  void (*scale)(idx n, float* x, float alpha);
  void (*axpy)(idx n, float alpha, const float* x, float* y);
  void (*axpby)(idx n, float alpha, const float* x, float beta, float* y);
  void (*add)(idx n, const float* a, const float* b, float* out);
  void (*mul)(idx n, const float* a, const float* b, float* out);
  void (*average)(idx n, float* a, const float* b);
  double (*sum_squares)(idx n, const float* x);
  double (*dot)(idx n, const float* x, const float* y);
  void (*acid_mix)(idx n, float* x, float* xt, const float* v, float p, float q, float c, float kx, float kt);

  // Bias, activations, dropout.
  void (*add_bias)(float* x, const float* bias, idx outer, idx channels, idx inner);
  void (*bias_grad)(const float* dy, float* dbias, idx outer, idx channels, idx inner);
  void (*relu)(idx n, const float* x, float* y);
  void (*relu_backward)(idx n, const float* y, const float* dy, float* dx);
  void (*gelu)(idx n, const float* x, float* y);
  void (*gelu_backward)(idx n, const float* x, const float* dy, float* dx);
  void (*dropout)(idx n, const float* x, float* out, float* mask, std::uint32_t threshold, float keep,
                  std::uint32_t seed);

  // Losses and softmax. Labels are checked by the addon.
  double (*softmax_xent)(const float* logits, const std::int32_t* labels, idx rows, idx classes, float* dlogits,
                         float grad_scale);
  void (*argmax_rows)(const float* x, idx rows, idx cols, std::int32_t* out);
  void (*softmax)(const float* x, float* y, idx rows, idx cols, float scale, bool causal);
  void (*softmax_backward)(const float* y, const float* dy, float* dx, idx rows, idx cols, float scale);

  // Normalisation.
  void (*layer_norm)(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                     idx rows, idx cols, float eps);
  void (*layer_norm_backward)(const float* x, const float* dy, const float* gamma, const float* mean,
                              const float* rstd, float* dx, float* dgamma, float* dbeta, idx rows, idx cols);
  void (*batch_norm_train)(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                           float* running_mean, float* running_var, idx n, idx c, idx hw, double eps,
                           double momentum);
  void (*batch_norm_eval)(const float* x, const float* gamma, const float* beta, float* y, const float* running_mean,
                          const float* running_var, idx n, idx c, idx hw, double eps);
  void (*batch_norm_backward)(const float* x, const float* dy, const float* gamma, const float* mean,
                              const float* rstd, float* dx, float* dgamma, float* dbeta, idx n, idx c, idx hw);
  // GroupNorm; the addon has checked that groups > 0 divides c.
  void (*group_norm)(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd, idx n,
                     idx c, idx hw, idx groups, double eps);
  void (*group_norm_backward)(const float* x, const float* dy, const float* gamma, const float* mean,
                              const float* rstd, float* dx, float* dgamma, float* dbeta, idx n, idx c, idx hw,
                              idx groups);

  // Convolution and pooling (NCHW).
  void (*im2col)(const float* x, float* cols, idx n, idx c, idx h, idx w, idx kh, idx kw, idx stride, idx pad);
  void (*col2im)(const float* cols, float* dx, idx n, idx c, idx h, idx w, idx kh, idx kw, idx stride, idx pad);
  void (*max_pool)(const float* x, float* y, std::int32_t* argmax, idx n, idx c, idx h, idx w, idx k, idx stride);
  void (*avg_pool_global)(const float* x, float* y, idx planes, idx hw);
  void (*avg_pool_global_backward)(const float* dy, float* dx, idx planes, idx hw);

  // Optimizer updates.
  void (*sgd_step)(idx n, float* params, const float* grads, float* buf, float lr, float momentum, float weight_decay,
                   bool nesterov);
  void (*adamw_step)(idx n, float* params, const float* grads, float* m, float* v, float lr, float beta1, float beta2,
                     float eps, float decay, float step_size, float sqrt_bc2);
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
