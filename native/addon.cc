// N-API entry points of the native compute backend.
//
// The module exports
//   isas(): string[]            instruction sets this CPU can run, best first (e.g. ['avx512', 'avx2', 'scalar'])
//   kernels(isa: string): {...} one function per kernel, bound to that instruction set's table
// Arguments are read straight from the call: typed arrays through napi_get_typedarray_info (zero-copy, honouring
// byteOffset, SharedArrayBuffer-backed arrays included), numbers as doubles. Every size is checked against the
// arrays' lengths so that a wrong call throws a TypeError/RangeError instead of touching memory out of bounds.
#include <node_api.h>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "common.h"

namespace gs {

void register_allocator(napi_env env, napi_value exports);  // allocator.cc
void register_aead(napi_env env, napi_value exports);  // aead.cc
void register_finite(napi_env env, napi_value exports);  // finite.cc

// ---------------------------------------------------------------------------------------------------------------
// Per-thread scratch memory

namespace {
constexpr int kSlots = 8;

// Freed when the thread ends (worker threads come and go).
struct ScratchSet {
  float* buf[kSlots] = {};
  std::size_t cap[kSlots] = {};
  ~ScratchSet() {
    for (float* p : buf) std::free(p);
  }
};
thread_local ScratchSet tls_scratch;
}  // namespace

float* scratch(int slot, std::size_t count) {
  ScratchSet& s = tls_scratch;
  if (count > s.cap[slot]) {
    std::free(s.buf[slot]);
    s.buf[slot] = nullptr;
    s.cap[slot] = 0;
    const std::size_t cap = count + count / 4 + 64;
    const std::size_t bytes = (cap * sizeof(float) + 63) & ~static_cast<std::size_t>(63);
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) std::abort();
    s.buf[slot] = static_cast<float*>(p);
    s.cap[slot] = cap;
  }
  return s.buf[slot];
}

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Dispatch

#if defined(__x86_64__) || defined(__i386__)
bool has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx2") &&
         __builtin_cpu_supports("fma");
}
bool has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

// Tables runnable on this CPU, best first.
int available(const Kernels** out) {
  int n = 0;
#if defined(__x86_64__) || defined(__i386__)
  if (has_avx512()) out[n++] = &kernels_avx512;
  if (has_avx2()) out[n++] = &kernels_avx2;
#endif
  out[n++] = &kernels_scalar;
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// Denormals

// Sets flush-to-zero and denormals-are-zero for the duration of a kernel, then restores the caller's mode.
// Subnormal floats (below 1.2e-38) appear in training, for example in momentum buffers that decay where
// gradients stay zero, and arithmetic on them takes a slow micro-coded path on x86. Comparison-only kernels
// (argmax, max pooling) do not use it, so that their results match the reference exactly.
class FlushDenormals {
 public:
#if defined(__SSE2__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

// ---------------------------------------------------------------------------------------------------------------
// Argument reading

template <typename T>
struct View {
  T* data;
  idx length;
};

constexpr std::size_t kMaxArgs = 20;

class Args {
 public:
  Args(napi_env env, napi_callback_info info, std::size_t expected, const char* fn) : env_(env), fn_(fn) {
    argc_ = kMaxArgs;
    void* data = nullptr;
    if (napi_get_cb_info(env, info, &argc_, argv_, nullptr, &data) != napi_ok) {
      fail_type("bad call");
      return;
    }
    kernels = static_cast<const Kernels*>(data);
    if (argc_ < expected) {
      char msg[96];
      std::snprintf(msg, sizeof msg, "expected %zu arguments, got %zu", expected, argc_);
      fail_type(msg);
    }
  }

  bool ok() const { return !failed_; }

  double number(std::size_t i, const char* name) {
    if (failed_) return 0;
    double v = 0;
    if (napi_get_value_double(env_, argv_[i], &v) != napi_ok) fail_type(name, "must be a number");
    return v;
  }

  float real(std::size_t i, const char* name) { return static_cast<float>(number(i, name)); }

  // A non-negative integer below 2^53.
  idx count(std::size_t i, const char* name) {
    double v = number(i, name);
    if (failed_) return 0;
    if (!(v >= 0) || v > 9007199254740991.0 || std::floor(v) != v) {
      fail_range(name, "must be a non-negative integer");
      return 0;
    }
    return static_cast<idx>(v);
  }

  // Any integer in int32 range (for class indices, etc.).
  idx integer(std::size_t i, const char* name) {
    double v = number(i, name);
    if (failed_) return 0;
    if (!(v >= -2147483648.0 && v <= 2147483647.0) || std::floor(v) != v) {
      fail_range(name, "must be an integer");
      return 0;
    }
    return static_cast<idx>(v);
  }

  bool boolean(std::size_t i, const char* name) {
    if (failed_) return false;
    bool v = false;
    if (napi_get_value_bool(env_, argv_[i], &v) != napi_ok) fail_type(name, "must be a boolean");
    return v;
  }

  // ToUint32 of a number (as JavaScript's `>>> 0`).
  std::uint32_t uint32(std::size_t i, const char* name) {
    if (failed_) return 0;
    std::uint32_t v = 0;
    if (napi_get_value_uint32(env_, argv_[i], &v) != napi_ok) fail_type(name, "must be a number");
    return v;
  }

  View<float> f32(std::size_t i, const char* name) { return typed<float>(i, name, napi_float32_array, "Float32Array"); }

  // A Float32Array, or null / undefined (data == nullptr).
  View<float> f32_or_null(std::size_t i, const char* name) {
    View<float> none{nullptr, 0};
    if (failed_) return none;
    napi_valuetype t;
    if (napi_typeof(env_, argv_[i], &t) == napi_ok && (t == napi_null || t == napi_undefined)) return none;
    return typed<float>(i, name, napi_float32_array, "Float32Array or null");
  }

  // Product of sizes, failing on overflow.
  idx product(std::initializer_list<idx> sizes) {
    idx p = 1;
    for (idx s : sizes) {
      if (__builtin_mul_overflow(p, s, &p) || p > 9007199254740991LL) {
        fail_range("sizes", "overflow");
        return 0;
      }
    }
    return p;
  }

  // Checks 0 <= value < limit for an index taken from the caller.
  void index(idx value, idx limit, const char* what) {
    if (failed_ || (value >= 0 && value < limit)) return;
    char msg[160];
    std::snprintf(msg, sizeof msg, "%s: %s %lld is out of range [0, %lld)", fn_, what, static_cast<long long>(value),
                  static_cast<long long>(limit));
    napi_throw_range_error(env_, nullptr, msg);
    failed_ = true;
  }

  napi_value result(double v) {
    napi_value out = nullptr;
    napi_create_double(env_, v, &out);
    return out;
  }
  View<std::int32_t> i32(std::size_t i, const char* name) {
    return typed<std::int32_t>(i, name, napi_int32_array, "Int32Array");
  }

  // Checks that an array holds at least `need` elements.
  template <typename T>
  void need(const View<T>& v, idx need, const char* name) {
    if (failed_ || need <= v.length) return;
    char msg[160];
    std::snprintf(msg, sizeof msg, "%s: %s has %lld elements, needs at least %lld", fn_, name,
                  static_cast<long long>(v.length), static_cast<long long>(need));
    napi_throw_range_error(env_, nullptr, msg);
    failed_ = true;
  }

  // Fails with a RangeError unless cond holds.
  void check(bool cond, const char* what) {
    if (failed_ || cond) return;
    fail_range(what, "");
  }

  void fail_type(const char* name, const char* what = "") { fail(name, what, false); }
  void fail_range(const char* name, const char* what) { fail(name, what, true); }

  const Kernels* kernels = nullptr;

 private:
  template <typename T>
  View<T> typed(std::size_t i, const char* name, napi_typedarray_type want, const char* type_name) {
    View<T> out{nullptr, 0};
    if (failed_) return out;
    napi_typedarray_type type;
    std::size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env_, argv_[i], &type, &length, &data, nullptr, nullptr) != napi_ok ||
        type != want) {
      char msg[96];
      std::snprintf(msg, sizeof msg, "must be a %s", type_name);
      fail_type(name, msg);
      return out;
    }
    out.data = static_cast<T*>(data);
    out.length = static_cast<idx>(length);
    return out;
  }

  void fail(const char* name, const char* what, bool range) {
    if (failed_) return;
    char msg[200];
    std::snprintf(msg, sizeof msg, "%s: %s%s%s", fn_, name, what[0] ? " " : "", what);
    if (range) {
      napi_throw_range_error(env_, nullptr, msg);
    } else {
      napi_throw_type_error(env_, nullptr, msg);
    }
    failed_ = true;
  }

  napi_env env_;
  const char* fn_;
  std::size_t argc_ = 0;
  napi_value argv_[kMaxArgs];
  bool failed_ = false;
};

// Elements spanned by `rows` rows of `cols` values with row stride `ld`.
inline idx span(idx rows, idx cols, idx ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }

// ---------------------------------------------------------------------------------------------------------------
// Kernels

// Reads an sgemm shape and checks the strides and the spans of A, B, C at the given element offsets.
struct Gemm {
  bool ta, tb;
  idx m, n, k;
  float alpha, beta;
  idx lda, ldb, ldc;
  idx a_span, b_span, c_span;
};

void gemm_spans(Args& A, Gemm& g) {
  const idx ar = g.ta ? g.k : g.m, ac = g.ta ? g.m : g.k;
  const idx br = g.tb ? g.n : g.k, bc = g.tb ? g.k : g.n;
  A.check(g.lda >= ac || ar <= 1, "lda is smaller than a row of A");
  A.check(g.ldb >= bc || br <= 1, "ldb is smaller than a row of B");
  A.check(g.ldc >= g.n || g.m <= 1, "ldc is smaller than n");
  const bool reads = g.k > 0 && g.alpha != 0.0f && g.m > 0 && g.n > 0;
  g.a_span = reads ? span(ar, ac, g.lda) : 0;
  g.b_span = reads ? span(br, bc, g.ldb) : 0;
  g.c_span = span(g.m, g.n, g.ldc);
}

napi_value js_sgemm(napi_env env, napi_callback_info info) {
  Args A(env, info, 13, "sgemm");
  Gemm g;
  g.ta = A.boolean(0, "transA");
  g.tb = A.boolean(1, "transB");
  g.m = A.count(2, "m");
  g.n = A.count(3, "n");
  g.k = A.count(4, "k");
  g.alpha = A.real(5, "alpha");
  auto a = A.f32(6, "a");
  g.lda = A.count(7, "lda");
  auto b = A.f32(8, "b");
  g.ldb = A.count(9, "ldb");
  g.beta = A.real(10, "beta");
  auto c = A.f32(11, "c");
  g.ldc = A.count(12, "ldc");
  if (!A.ok()) return nullptr;
  gemm_spans(A, g);
  A.need(a, g.a_span, "a");
  A.need(b, g.b_span, "b");
  A.need(c, g.c_span, "c");
  if (!A.ok()) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->sgemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a.data, g.lda, b.data, g.ldb, g.beta, c.data, g.ldc);
  }
  return nullptr;
}

napi_value js_sgemm_batched(napi_env env, napi_callback_info info) {
  Args A(env, info, 17, "sgemmBatched");
  Gemm g;
  g.ta = A.boolean(0, "transA");
  g.tb = A.boolean(1, "transB");
  g.m = A.count(2, "m");
  g.n = A.count(3, "n");
  g.k = A.count(4, "k");
  g.alpha = A.real(5, "alpha");
  auto a = A.f32(6, "a");
  g.lda = A.count(7, "lda");
  const idx sa = A.count(8, "strideA");
  auto b = A.f32(9, "b");
  g.ldb = A.count(10, "ldb");
  const idx sb = A.count(11, "strideB");
  g.beta = A.real(12, "beta");
  auto c = A.f32(13, "c");
  g.ldc = A.count(14, "ldc");
  const idx sc = A.count(15, "strideC");
  const idx count = A.count(16, "count");
  if (!A.ok() || count == 0) return nullptr;
  gemm_spans(A, g);
  const idx last = count - 1;
  if (g.a_span > 0) A.need(a, last * sa + g.a_span, "a");
  if (g.b_span > 0) A.need(b, last * sb + g.b_span, "b");
  if (g.c_span > 0) A.need(c, last * sc + g.c_span, "c");
  if (!A.ok()) return nullptr;
  FlushDenormals guard;
  for (idx i = 0; i < count; ++i) {
    A.kernels->sgemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a.data + i * sa, g.lda, b.data + i * sb, g.ldb, g.beta,
                     c.data + i * sc, g.ldc);
  }
  return nullptr;
}

// ---- vector operations

napi_value js_fill(napi_env env, napi_callback_info info) {
  Args A(env, info, 2, "fill");
  auto x = A.f32(0, "x");
  const float v = A.real(1, "value");
  if (!A.ok()) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->fill(x.length, x.data, v);
  }
  return nullptr;
}

napi_value js_copy(napi_env env, napi_callback_info info) {
  Args A(env, info, 2, "copy");
  auto src = A.f32(0, "src");
  auto dst = A.f32(1, "dst");
  A.need(dst, src.length, "dst");
  if (!A.ok()) return nullptr;
  if (src.length > 0) std::memmove(dst.data, src.data, static_cast<std::size_t>(src.length) * sizeof(float));
  return nullptr;
}

napi_value js_scale(napi_env env, napi_callback_info info) {
  Args A(env, info, 2, "scale");
  auto x = A.f32(0, "x");
  const float alpha = A.real(1, "alpha");
  if (!A.ok()) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->scale(x.length, x.data, alpha);
  }
  return nullptr;
}

napi_value js_axpy(napi_env env, napi_callback_info info) {
  Args A(env, info, 3, "axpy");
  const float alpha = A.real(0, "alpha");
  auto x = A.f32(1, "x");
  auto y = A.f32(2, "y");
  A.need(x, y.length, "x");
  if (!A.ok()) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->axpy(y.length, alpha, x.data, y.data);
  }
  return nullptr;
}

napi_value js_axpby(napi_env env, napi_callback_info info) {
  Args A(env, info, 4, "axpby");
  const float alpha = A.real(0, "alpha");
  auto x = A.f32(1, "x");
  const float beta = A.real(2, "beta");
  auto y = A.f32(3, "y");
  A.need(x, y.length, "x");
  if (!A.ok()) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->axpby(y.length, alpha, x.data, beta, y.data);
  }
  return nullptr;
}

template <bool Mul>
napi_value binary(napi_env env, napi_callback_info info) {
  Args A(env, info, 3, Mul ? "mul" : "add");
  auto a = A.f32(0, "a");
  auto b = A.f32(1, "b");
  auto out = A.f32(2, "out");
  A.need(a, out.length, "a");
  A.need(b, out.length, "b");
  if (!A.ok()) return nullptr;
  if (Mul) {
    {
      FlushDenormals guard;
      A.kernels->mul(out.length, a.data, b.data, out.data);
    }
  } else {
    {
      FlushDenormals guard;
      A.kernels->add(out.length, a.data, b.data, out.data);
    }
  }
  return nullptr;
}

napi_value js_average(napi_env env, napi_callback_info info) {
  Args A(env, info, 2, "average");
  auto a = A.f32(0, "a");
  auto b = A.f32(1, "b");
  A.need(b, a.length, "b");
  if (!A.ok()) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->average(a.length, a.data, b.data);
  }
  return nullptr;
}

napi_value js_acid_mix(napi_env env, napi_callback_info info) {
  Args A(env, info, 8, "acidMix");
  auto x = A.f32(0, "x");
  auto xt = A.f32(1, "xt");
  auto v = A.f32(2, "v");
  const float p = A.real(3, "p");
  const float q = A.real(4, "q");
  const float c = A.real(5, "c");
  const float kx = A.real(6, "kx");
  const float kt = A.real(7, "kt");
  A.need(xt, x.length, "xt");
  A.need(v, x.length, "v");
  if (!A.ok()) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->acid_mix(x.length, x.data, xt.data, v.data, p, q, c, kx, kt);
  }
  return nullptr;
}

napi_value js_sum_squares(napi_env env, napi_callback_info info) {
  Args A(env, info, 1, "sumSquares");
  auto x = A.f32(0, "x");
  if (!A.ok()) return nullptr;
  double r;
  {
    FlushDenormals guard;
    r = A.kernels->sum_squares(x.length, x.data);
  }
  return A.result(r);
}

napi_value js_dot(napi_env env, napi_callback_info info) {
  Args A(env, info, 2, "dot");
  auto x = A.f32(0, "x");
  auto y = A.f32(1, "y");
  A.need(y, x.length, "y");
  if (!A.ok()) return nullptr;
  double r;
  {
    FlushDenormals guard;
    r = A.kernels->dot(x.length, x.data, y.data);
  }
  return A.result(r);
}

// ---- bias, activations, dropout

template <bool Grad>
napi_value bias_op(napi_env env, napi_callback_info info) {
  Args A(env, info, 5, Grad ? "biasGrad" : "addBias");
  auto x = A.f32(0, Grad ? "dy" : "x");
  auto bias = A.f32(1, Grad ? "dbias" : "bias");
  const idx outer = A.count(2, "outer"), channels = A.count(3, "channels"), inner = A.count(4, "inner");
  A.need(x, A.product({outer, channels, inner}), Grad ? "dy" : "x");
  A.need(bias, channels, Grad ? "dbias" : "bias");
  if (!A.ok() || outer == 0 || channels == 0 || inner == 0) return nullptr;
  if (Grad) {
    {
      FlushDenormals guard;
      A.kernels->bias_grad(x.data, bias.data, outer, channels, inner);
    }
  } else {
    {
      FlushDenormals guard;
      A.kernels->add_bias(x.data, bias.data, outer, channels, inner);
    }
  }
  return nullptr;
}

// f(x) -> y over y.length elements (relu, gelu).
template <int Op>
napi_value unary(napi_env env, napi_callback_info info) {
  Args A(env, info, 2, Op == 0 ? "relu" : "gelu");
  auto x = A.f32(0, "x");
  auto y = A.f32(1, "y");
  A.need(x, y.length, "x");
  if (!A.ok()) return nullptr;
  if (Op == 0) {
    {
      FlushDenormals guard;
      A.kernels->relu(y.length, x.data, y.data);
    }
  } else {
    {
      FlushDenormals guard;
      A.kernels->gelu(y.length, x.data, y.data);
    }
  }
  return nullptr;
}

// (saved, dy) -> dx over dx.length elements (reluBackward, geluBackward).
template <int Op>
napi_value unary_backward(napi_env env, napi_callback_info info) {
  Args A(env, info, 3, Op == 0 ? "reluBackward" : "geluBackward");
  auto s = A.f32(0, Op == 0 ? "y" : "x");
  auto dy = A.f32(1, "dy");
  auto dx = A.f32(2, "dx");
  A.need(s, dx.length, Op == 0 ? "y" : "x");
  A.need(dy, dx.length, "dy");
  if (!A.ok()) return nullptr;
  if (Op == 0) {
    {
      FlushDenormals guard;
      A.kernels->relu_backward(dx.length, s.data, dy.data, dx.data);
    }
  } else {
    {
      FlushDenormals guard;
      A.kernels->gelu_backward(dx.length, s.data, dy.data, dx.data);
    }
  }
  return nullptr;
}

napi_value js_dropout(napi_env env, napi_callback_info info) {
  Args A(env, info, 5, "dropout");
  auto x = A.f32(0, "x");
  auto out = A.f32(1, "out");
  auto mask = A.f32(2, "mask");
  const double p = A.number(3, "p");
  const std::uint32_t seed = A.uint32(4, "seed");
  if (!A.ok()) return nullptr;
  if (!(p >= 0.0 && p < 1.0)) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "dropout probability %g is not in [0, 1)", p);
    A.fail_range(msg, "");
    return nullptr;
  }
  A.need(x, out.length, "x");
  A.need(mask, out.length, "mask");
  if (!A.ok()) return nullptr;
  const double t = std::floor(p * 4294967296.0);
  const std::uint32_t threshold = t >= 4294967295.0 ? 4294967295u : static_cast<std::uint32_t>(t);
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  {
    FlushDenormals guard;
    A.kernels->dropout(out.length, x.data, out.data, mask.data, threshold, keep, seed);
  }
  return nullptr;
}

// ---- losses and softmax

napi_value js_softmax_xent(napi_env env, napi_callback_info info) {
  Args A(env, info, 6, "softmaxCrossEntropy");
  auto logits = A.f32(0, "logits");
  auto labels = A.i32(1, "labels");
  const idx rows = A.count(2, "rows"), classes = A.count(3, "classes");
  auto dlogits = A.f32_or_null(4, "dlogits");
  const float scale = A.real(5, "gradScale");
  if (!A.ok() || rows == 0) return A.ok() ? A.result(0.0) : nullptr;
  A.check(classes > 0, "classes must be positive");
  A.need(logits, A.product({rows, classes}), "logits");
  A.need(labels, rows, "labels");
  if (dlogits.data != nullptr) A.need(dlogits, rows * classes, "dlogits");
  if (!A.ok()) return nullptr;
  for (idx r = 0; r < rows; ++r) A.index(labels.data[r], classes, "label");
  if (!A.ok()) return nullptr;
  double loss;
  {
    FlushDenormals guard;
    loss = A.kernels->softmax_xent(logits.data, labels.data, rows, classes, dlogits.data, scale);
  }
  return A.result(loss);
}

napi_value js_argmax_rows(napi_env env, napi_callback_info info) {
  Args A(env, info, 4, "argmaxRows");
  auto x = A.f32(0, "x");
  const idx rows = A.count(1, "rows"), cols = A.count(2, "cols");
  auto out = A.i32(3, "out");
  A.need(x, A.product({rows, cols}), "x");
  A.need(out, rows, "out");
  A.check(cols <= 2147483647, "cols must fit in an Int32Array");
  if (!A.ok()) return nullptr;
  A.kernels->argmax_rows(x.data, rows, cols, out.data);
  return nullptr;
}

napi_value js_softmax(napi_env env, napi_callback_info info) {
  Args A(env, info, 6, "softmax");
  auto x = A.f32(0, "x");
  auto y = A.f32(1, "y");
  const idx rows = A.count(2, "rows"), cols = A.count(3, "cols");
  const float scale = A.real(4, "scale");
  const bool causal = A.boolean(5, "causal");
  const idx total = A.product({rows, cols});
  A.need(x, total, "x");
  A.need(y, total, "y");
  if (!A.ok() || total == 0) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->softmax(x.data, y.data, rows, cols, scale, causal);
  }
  return nullptr;
}

napi_value js_softmax_backward(napi_env env, napi_callback_info info) {
  Args A(env, info, 6, "softmaxBackward");
  auto y = A.f32(0, "y");
  auto dy = A.f32(1, "dy");
  auto dx = A.f32(2, "dx");
  const idx rows = A.count(3, "rows"), cols = A.count(4, "cols");
  const float scale = A.real(5, "scale");
  const idx total = A.product({rows, cols});
  A.need(y, total, "y");
  A.need(dy, total, "dy");
  A.need(dx, total, "dx");
  if (!A.ok() || total == 0) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->softmax_backward(y.data, dy.data, dx.data, rows, cols, scale);
  }
  return nullptr;
}

// ---- normalisation

napi_value js_layer_norm(napi_env env, napi_callback_info info) {
  Args A(env, info, 9, "layerNorm");
  auto x = A.f32(0, "x");
  auto gamma = A.f32(1, "gamma");
  auto beta = A.f32(2, "beta");
  auto y = A.f32(3, "y");
  auto mean = A.f32(4, "mean");
  auto rstd = A.f32(5, "rstd");
  const idx rows = A.count(6, "rows"), cols = A.count(7, "cols");
  const float eps = A.real(8, "eps");
  const idx total = A.product({rows, cols});
  A.need(x, total, "x");
  A.need(y, total, "y");
  A.need(gamma, cols, "gamma");
  A.need(beta, cols, "beta");
  A.need(mean, rows, "mean");
  A.need(rstd, rows, "rstd");
  if (!A.ok() || total == 0) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->layer_norm(x.data, gamma.data, beta.data, y.data, mean.data, rstd.data, rows, cols, eps);
  }
  return nullptr;
}

napi_value js_layer_norm_backward(napi_env env, napi_callback_info info) {
  Args A(env, info, 10, "layerNormBackward");
  auto x = A.f32(0, "x");
  auto dy = A.f32(1, "dy");
  auto gamma = A.f32(2, "gamma");
  auto mean = A.f32(3, "mean");
  auto rstd = A.f32(4, "rstd");
  auto dx = A.f32(5, "dx");
  auto dgamma = A.f32(6, "dgamma");
  auto dbeta = A.f32(7, "dbeta");
  const idx rows = A.count(8, "rows"), cols = A.count(9, "cols");
  const idx total = A.product({rows, cols});
  A.need(x, total, "x");
  A.need(dy, total, "dy");
  A.need(dx, total, "dx");
  A.need(gamma, cols, "gamma");
  A.need(dgamma, cols, "dgamma");
  A.need(dbeta, cols, "dbeta");
  A.need(mean, rows, "mean");
  A.need(rstd, rows, "rstd");
  if (!A.ok() || total == 0) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->layer_norm_backward(x.data, dy.data, gamma.data, mean.data, rstd.data, dx.data, dgamma.data, dbeta.data,
                                   rows, cols);
  }
  return nullptr;
}

napi_value js_batch_norm_train(napi_env env, napi_callback_info info) {
  Args A(env, info, 13, "batchNormTrain");
  auto x = A.f32(0, "x");
  auto gamma = A.f32(1, "gamma");
  auto beta = A.f32(2, "beta");
  auto y = A.f32(3, "y");
  auto mean = A.f32(4, "mean");
  auto rstd = A.f32(5, "rstd");
  auto rmean = A.f32(6, "runningMean");
  auto rvar = A.f32(7, "runningVar");
  const idx n = A.count(8, "n"), c = A.count(9, "c"), hw = A.count(10, "hw");
  const double eps = A.number(11, "eps");
  const double momentum = A.number(12, "momentum");
  const idx total = A.product({n, c, hw});
  A.need(x, total, "x");
  A.need(y, total, "y");
  A.need(gamma, c, "gamma");
  A.need(beta, c, "beta");
  A.need(mean, c, "mean");
  A.need(rstd, c, "rstd");
  A.need(rmean, c, "runningMean");
  A.need(rvar, c, "runningVar");
  if (!A.ok() || total == 0) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->batch_norm_train(x.data, gamma.data, beta.data, y.data, mean.data, rstd.data, rmean.data, rvar.data, n,
                                c, hw, eps, momentum);
  }
  return nullptr;
}

napi_value js_batch_norm_eval(napi_env env, napi_callback_info info) {
  Args A(env, info, 10, "batchNormEval");
  auto x = A.f32(0, "x");
  auto gamma = A.f32(1, "gamma");
  auto beta = A.f32(2, "beta");
  auto y = A.f32(3, "y");
  auto rmean = A.f32(4, "runningMean");
  auto rvar = A.f32(5, "runningVar");
  const idx n = A.count(6, "n"), c = A.count(7, "c"), hw = A.count(8, "hw");
  const double eps = A.number(9, "eps");
  const idx total = A.product({n, c, hw});
  A.need(x, total, "x");
  A.need(y, total, "y");
  A.need(gamma, c, "gamma");
  A.need(beta, c, "beta");
  A.need(rmean, c, "runningMean");
  A.need(rvar, c, "runningVar");
  if (!A.ok() || total == 0) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->batch_norm_eval(x.data, gamma.data, beta.data, y.data, rmean.data, rvar.data, n, c, hw, eps);
  }
  return nullptr;
}

napi_value js_batch_norm_backward(napi_env env, napi_callback_info info) {
  Args A(env, info, 11, "batchNormBackward");
  auto x = A.f32(0, "x");
  auto dy = A.f32(1, "dy");
  auto gamma = A.f32(2, "gamma");
  auto mean = A.f32(3, "mean");
  auto rstd = A.f32(4, "rstd");
  auto dx = A.f32(5, "dx");
  auto dgamma = A.f32(6, "dgamma");
  auto dbeta = A.f32(7, "dbeta");
  const idx n = A.count(8, "n"), c = A.count(9, "c"), hw = A.count(10, "hw");
  const idx total = A.product({n, c, hw});
  A.need(x, total, "x");
  A.need(dy, total, "dy");
  A.need(dx, total, "dx");
  A.need(gamma, c, "gamma");
  A.need(mean, c, "mean");
  A.need(rstd, c, "rstd");
  A.need(dgamma, c, "dgamma");
  A.need(dbeta, c, "dbeta");
  if (!A.ok() || total == 0) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->batch_norm_backward(x.data, dy.data, gamma.data, mean.data, rstd.data, dx.data, dgamma.data, dbeta.data,
                                   n, c, hw);
  }
  return nullptr;
}

napi_value js_group_norm(napi_env env, napi_callback_info info) {
  Args A(env, info, 11, "groupNorm");
  auto x = A.f32(0, "x");
  auto gamma = A.f32(1, "gamma");
  auto beta = A.f32(2, "beta");
  auto y = A.f32(3, "y");
  auto mean = A.f32(4, "mean");
  auto rstd = A.f32(5, "rstd");
  const idx n = A.count(6, "n"), c = A.count(7, "c"), hw = A.count(8, "hw"), groups = A.count(9, "groups");
  const double eps = A.number(10, "eps");
  A.check(groups > 0, "groups must be positive");
  A.check(groups > 0 && c % groups == 0, "groups must divide c");
  const idx total = A.product({n, c, hw});
  const idx blocks = A.product({n, groups});
  A.need(x, total, "x");
  A.need(y, total, "y");
  A.need(gamma, c, "gamma");
  A.need(beta, c, "beta");
  A.need(mean, blocks, "mean");
  A.need(rstd, blocks, "rstd");
  if (!A.ok() || total == 0) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->group_norm(x.data, gamma.data, beta.data, y.data, mean.data, rstd.data, n, c, hw, groups, eps);
  }
  return nullptr;
}

napi_value js_group_norm_backward(napi_env env, napi_callback_info info) {
  Args A(env, info, 12, "groupNormBackward");
  auto x = A.f32(0, "x");
  auto dy = A.f32(1, "dy");
  auto gamma = A.f32(2, "gamma");
  auto mean = A.f32(3, "mean");
  auto rstd = A.f32(4, "rstd");
  auto dx = A.f32(5, "dx");
  auto dgamma = A.f32(6, "dgamma");
  auto dbeta = A.f32(7, "dbeta");
  const idx n = A.count(8, "n"), c = A.count(9, "c"), hw = A.count(10, "hw"), groups = A.count(11, "groups");
  A.check(groups > 0, "groups must be positive");
  A.check(groups > 0 && c % groups == 0, "groups must divide c");
  const idx total = A.product({n, c, hw});
  const idx blocks = A.product({n, groups});
  A.need(x, total, "x");
  A.need(dy, total, "dy");
  A.need(dx, total, "dx");
  A.need(gamma, c, "gamma");
  A.need(mean, blocks, "mean");
  A.need(rstd, blocks, "rstd");
  A.need(dgamma, c, "dgamma");
  A.need(dbeta, c, "dbeta");
  if (!A.ok() || total == 0) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->group_norm_backward(x.data, dy.data, gamma.data, mean.data, rstd.data, dx.data, dgamma.data, dbeta.data,
                                   n, c, hw, groups);
  }
  return nullptr;
}

// ---- convolution and pooling

template <bool Back>
napi_value conv_unfold(napi_env env, napi_callback_info info) {
  Args A(env, info, 10, Back ? "col2im" : "im2col");
  auto first = A.f32(0, Back ? "cols" : "x");
  auto second = A.f32(1, Back ? "dx" : "cols");
  const idx n = A.count(2, "n"), c = A.count(3, "c"), h = A.count(4, "h"), w = A.count(5, "w");
  const idx kh = A.count(6, "kh"), kw = A.count(7, "kw"), stride = A.count(8, "stride"), pad = A.count(9, "pad");
  if (!A.ok()) return nullptr;
  A.check(stride >= 1, "stride must be at least 1");
  if (!A.ok()) return nullptr;
  const idx image = A.product({n, c, h, w});
  idx unfolded = 0;
  if (h + 2 * pad >= kh && w + 2 * pad >= kw) {
    const idx oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
    unfolded = A.product({n, c, kh, kw, oh, ow});
  }
  A.need(first, Back ? unfolded : image, Back ? "cols" : "x");
  A.need(second, Back ? image : unfolded, Back ? "dx" : "cols");
  if (!A.ok()) return nullptr;
  if (Back) {
    {
      FlushDenormals guard;
      A.kernels->col2im(first.data, second.data, n, c, h, w, kh, kw, stride, pad);
    }
  } else if (unfolded > 0) {
    {
      FlushDenormals guard;
      A.kernels->im2col(first.data, second.data, n, c, h, w, kh, kw, stride, pad);
    }
  }
  return nullptr;
}

napi_value js_max_pool(napi_env env, napi_callback_info info) {
  Args A(env, info, 9, "maxPool2d");
  auto x = A.f32(0, "x");
  auto y = A.f32(1, "y");
  auto argmax = A.i32(2, "argmax");
  const idx n = A.count(3, "n"), c = A.count(4, "c"), h = A.count(5, "h"), w = A.count(6, "w");
  const idx k = A.count(7, "k"), stride = A.count(8, "stride");
  if (!A.ok()) return nullptr;
  A.check(stride >= 1, "stride must be at least 1");
  A.check(k >= 1, "k must be at least 1");
  if (!A.ok() || h < k || w < k) return nullptr;
  const idx outputs = A.product({n, c, (h - k) / stride + 1, (w - k) / stride + 1});
  const idx inputs = A.product({n, c, h, w});
  A.check(inputs <= 2147483647, "x is too large for Int32Array indices");
  A.need(x, inputs, "x");
  A.need(y, outputs, "y");
  A.need(argmax, outputs, "argmax");
  if (!A.ok() || outputs == 0) return nullptr;
  A.kernels->max_pool(x.data, y.data, argmax.data, n, c, h, w, k, stride);
  return nullptr;
}

napi_value js_max_pool_backward(napi_env env, napi_callback_info info) {
  Args A(env, info, 3, "maxPool2dBackward");
  auto dy = A.f32(0, "dy");
  auto argmax = A.i32(1, "argmax");
  auto dx = A.f32(2, "dx");
  A.need(argmax, dy.length, "argmax");
  if (!A.ok()) return nullptr;
  // Range check over all entries first (a vectorisable min/max), naming the first bad one only on failure.
  std::int32_t lo = 0, hi = 0;
  if (dy.length > 0) lo = hi = argmax.data[0];
#pragma omp simd reduction(min : lo) reduction(max : hi)
  for (idx o = 0; o < dy.length; ++o) {
    lo = argmax.data[o] < lo ? argmax.data[o] : lo;
    hi = argmax.data[o] > hi ? argmax.data[o] : hi;
  }
  if (lo < 0 || hi >= dx.length) {
    for (idx o = 0; o < dy.length && A.ok(); ++o) A.index(argmax.data[o], dx.length, "argmax entry");
    return nullptr;
  }
  if (dx.length > 0) std::memset(dx.data, 0, static_cast<std::size_t>(dx.length) * sizeof(float));
  for (idx o = 0; o < dy.length; ++o) dx.data[argmax.data[o]] += dy.data[o];
  return nullptr;
}

template <bool Back>
napi_value avg_pool(napi_env env, napi_callback_info info) {
  Args A(env, info, 4, Back ? "avgPoolGlobalBackward" : "avgPoolGlobal");
  auto first = A.f32(0, Back ? "dy" : "x");
  auto second = A.f32(1, Back ? "dx" : "y");
  const idx planes = A.count(2, "planes"), hw = A.count(3, "hw");
  const idx total = A.product({planes, hw});
  A.need(first, Back ? planes : total, Back ? "dy" : "x");
  A.need(second, Back ? total : planes, Back ? "dx" : "y");
  if (!A.ok()) return nullptr;
  if (Back) {
    {
      FlushDenormals guard;
      A.kernels->avg_pool_global_backward(first.data, second.data, planes, hw);
    }
  } else {
    {
      FlushDenormals guard;
      A.kernels->avg_pool_global(first.data, second.data, planes, hw);
    }
  }
  return nullptr;
}

// ---- embeddings

napi_value js_embedding_gather(napi_env env, napi_callback_info info) {
  Args A(env, info, 4, "embeddingGather");
  auto table = A.f32(0, "table");
  auto ids = A.i32(1, "ids");
  auto out = A.f32(2, "out");
  const idx dim = A.count(3, "dim");
  if (!A.ok() || ids.length == 0 || dim == 0) return nullptr;
  const idx rows = table.length / dim;
  A.need(out, A.product({ids.length, dim}), "out");
  for (idx r = 0; r < ids.length && A.ok(); ++r) A.index(ids.data[r], rows, "token id");
  if (!A.ok()) return nullptr;
  for (idx r = 0; r < ids.length; ++r) {
    std::memcpy(out.data + r * dim, table.data + static_cast<idx>(ids.data[r]) * dim,
                static_cast<std::size_t>(dim) * sizeof(float));
  }
  return nullptr;
}

napi_value js_embedding_scatter_add(napi_env env, napi_callback_info info) {
  Args A(env, info, 4, "embeddingScatterAdd");
  auto dout = A.f32(0, "dout");
  auto ids = A.i32(1, "ids");
  auto dtable = A.f32(2, "dtable");
  const idx dim = A.count(3, "dim");
  if (!A.ok() || ids.length == 0 || dim == 0) return nullptr;
  const idx rows = dtable.length / dim;
  A.need(dout, A.product({ids.length, dim}), "dout");
  for (idx r = 0; r < ids.length && A.ok(); ++r) A.index(ids.data[r], rows, "token id");
  if (!A.ok()) return nullptr;
  for (idx r = 0; r < ids.length; ++r) {
    {
      FlushDenormals guard;
      A.kernels->axpy(dim, 1.0f, dout.data + r * dim, dtable.data + static_cast<idx>(ids.data[r]) * dim);
    }
  }
  return nullptr;
}

// ---- optimizer updates

napi_value js_sgd_step(napi_env env, napi_callback_info info) {
  Args A(env, info, 7, "sgdStep");
  auto params = A.f32(0, "params");
  auto grads = A.f32(1, "grads");
  auto buf = A.f32(2, "buf");
  const float lr = A.real(3, "lr"), momentum = A.real(4, "momentum"), wd = A.real(5, "weightDecay");
  const bool nesterov = A.boolean(6, "nesterov");
  A.need(grads, params.length, "grads");
  if (momentum != 0.0f) A.need(buf, params.length, "buf");
  if (!A.ok()) return nullptr;
  {
    FlushDenormals guard;
    A.kernels->sgd_step(params.length, params.data, grads.data, buf.data, lr, momentum, wd, nesterov);
  }
  return nullptr;
}

napi_value js_adamw_step(napi_env env, napi_callback_info info) {
  Args A(env, info, 10, "adamwStep");
  auto params = A.f32(0, "params");
  auto grads = A.f32(1, "grads");
  auto m = A.f32(2, "m");
  auto v = A.f32(3, "v");
  const double lr = A.number(4, "lr"), beta1 = A.number(5, "beta1"), beta2 = A.number(6, "beta2");
  const double eps = A.number(7, "eps"), wd = A.number(8, "weightDecay"), step = A.number(9, "step");
  A.need(grads, params.length, "grads");
  A.need(m, params.length, "m");
  A.need(v, params.length, "v");
  if (!A.ok()) return nullptr;
  const double bc1 = 1.0 - std::pow(beta1, step);
  const double bc2 = 1.0 - std::pow(beta2, step);
  {
    FlushDenormals guard;
    A.kernels->adamw_step(params.length, params.data, grads.data, m.data, v.data, static_cast<float>(lr),
                          static_cast<float>(beta1), static_cast<float>(beta2), static_cast<float>(eps),
                          static_cast<float>(1.0 - lr * wd), static_cast<float>(lr / bc1),
                          static_cast<float>(std::sqrt(bc2)));
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------------------------
// Module

struct Entry {
  const char* name;
  napi_callback fn;
};

const Entry kEntries[] = {
    {"sgemm", js_sgemm},
    {"sgemmBatched", js_sgemm_batched},
    {"fill", js_fill},
    {"copy", js_copy},
    {"scale", js_scale},
    {"axpy", js_axpy},
    {"axpby", js_axpby},
    {"add", binary<false>},
    {"mul", binary<true>},
    {"average", js_average},
    {"sumSquares", js_sum_squares},
    {"dot", js_dot},
    {"acidMix", js_acid_mix},
    {"addBias", bias_op<false>},
    {"biasGrad", bias_op<true>},
    {"relu", unary<0>},
    {"reluBackward", unary_backward<0>},
    {"gelu", unary<1>},
    {"geluBackward", unary_backward<1>},
    {"dropout", js_dropout},
    {"softmaxCrossEntropy", js_softmax_xent},
    {"argmaxRows", js_argmax_rows},
    {"softmax", js_softmax},
    {"softmaxBackward", js_softmax_backward},
    {"layerNorm", js_layer_norm},
    {"layerNormBackward", js_layer_norm_backward},
    {"batchNormTrain", js_batch_norm_train},
    {"batchNormEval", js_batch_norm_eval},
    {"batchNormBackward", js_batch_norm_backward},
    {"groupNorm", js_group_norm},
    {"groupNormBackward", js_group_norm_backward},
    {"im2col", conv_unfold<false>},
    {"col2im", conv_unfold<true>},
    {"maxPool2d", js_max_pool},
    {"maxPool2dBackward", js_max_pool_backward},
    {"avgPoolGlobal", avg_pool<false>},
    {"avgPoolGlobalBackward", avg_pool<true>},
    {"embeddingGather", js_embedding_gather},
    {"embeddingScatterAdd", js_embedding_scatter_add},
    {"sgdStep", js_sgd_step},
    {"adamwStep", js_adamw_step},
};

napi_value js_isas(napi_env env, napi_callback_info) {
  const Kernels* tables[4];
  const int n = available(tables);
  napi_value arr;
  napi_create_array_with_length(env, static_cast<std::size_t>(n), &arr);
  for (int i = 0; i < n; ++i) {
    napi_value s;
    napi_create_string_utf8(env, tables[i]->isa, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, static_cast<uint32_t>(i), s);
  }
  return arr;
}

napi_value js_kernels(napi_env env, napi_callback_info info) {
  std::size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char name[32] = {0};
  std::size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, nullptr, "kernels: isa must be a string");
    return nullptr;
  }
  const Kernels* tables[4];
  const int n = available(tables);
  const Kernels* chosen = nullptr;
  for (int i = 0; i < n; ++i) {
    if (std::strcmp(tables[i]->isa, name) == 0) chosen = tables[i];
  }
  if (chosen == nullptr) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "kernels: instruction set '%s' is not available on this CPU", name);
    napi_throw_range_error(env, nullptr, msg);
    return nullptr;
  }
  napi_value obj;
  napi_create_object(env, &obj);
  for (const Entry& e : kEntries) {
    napi_value fn;
    napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, const_cast<Kernels*>(chosen), &fn);
    napi_set_named_property(env, obj, e.name, fn);
  }
  napi_value isa;
  napi_create_string_utf8(env, chosen->isa, NAPI_AUTO_LENGTH, &isa);
  napi_set_named_property(env, obj, "isa", isa);
  return obj;
}

napi_value init(napi_env env, napi_value exports) {
  register_allocator(env, exports);
  register_aead(env, exports);
  register_finite(env, exports);
  napi_value fn;
  napi_create_function(env, "isas", NAPI_AUTO_LENGTH, js_isas, nullptr, &fn);
  napi_set_named_property(env, exports, "isas", fn);
  napi_create_function(env, "kernels", NAPI_AUTO_LENGTH, js_kernels, nullptr, &fn);
  napi_set_named_property(env, exports, "kernels", fn);
  napi_value names;
  napi_create_array(env, &names);
  uint32_t i = 0;
  for (const Entry& e : kEntries) {
    napi_value s;
    napi_create_string_utf8(env, e.name, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, names, i++, s);
  }
  napi_set_named_property(env, exports, "kernelNames", names);
  return exports;
}

}  // namespace
}  // namespace gs

NAPI_MODULE(NODE_GYP_MODULE_NAME, gs::init)
