// N-API entry points of the native compute backend.
//
// The module exports
//   isas(): string[]            instruction sets this CPU can run, best first (e.g. ['avx512', 'avx2', 'scalar'])
//   kernels(isa: string): {...} one function per kernel, bound to that instruction set's table
// Arguments are read straight from the call: typed arrays through napi_get_typedarray_info (zero-copy, honouring
// byteOffset, SharedArrayBuffer-backed arrays included), numbers as doubles. Every size is checked against the
// arrays' lengths so that a wrong call throws a TypeError/RangeError instead of touching memory out of bounds.
#include <node_api.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common.h"

namespace gs {

// ---------------------------------------------------------------------------------------------------------------
// Per-thread scratch memory

namespace {
constexpr int kSlots = 8;
thread_local float* tls_buf[kSlots];
thread_local std::size_t tls_cap[kSlots];
}  // namespace

float* scratch(int slot, std::size_t count) {
  if (count > tls_cap[slot]) {
    std::free(tls_buf[slot]);
    std::size_t cap = count + count / 4 + 64;
    std::size_t bytes = (cap * sizeof(float) + 63) & ~static_cast<std::size_t>(63);
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) std::abort();
    tls_buf[slot] = static_cast<float*>(p);
    tls_cap[slot] = cap;
  }
  return tls_buf[slot];
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
// Argument reading

template <typename T>
struct View {
  T* data;
  idx length;
};

constexpr std::size_t kMaxArgs = 16;

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

  View<float> f32(std::size_t i, const char* name) { return typed<float>(i, name, napi_float32_array, "Float32Array"); }
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

napi_value js_sgemm(napi_env env, napi_callback_info info) {
  Args A(env, info, 13, "sgemm");
  const bool ta = A.boolean(0, "transA");
  const bool tb = A.boolean(1, "transB");
  const idx m = A.count(2, "m"), n = A.count(3, "n"), k = A.count(4, "k");
  const float alpha = A.real(5, "alpha");
  auto a = A.f32(6, "a");
  const idx lda = A.count(7, "lda");
  auto b = A.f32(8, "b");
  const idx ldb = A.count(9, "ldb");
  const float beta = A.real(10, "beta");
  auto c = A.f32(11, "c");
  const idx ldc = A.count(12, "ldc");
  if (!A.ok()) return nullptr;
  // op(A) is m x k: A is m x k (row stride lda >= k) or k x m (lda >= m).
  const idx ar = ta ? k : m, ac = ta ? m : k;
  const idx br = tb ? n : k, bc = tb ? k : n;
  A.check(lda >= ac || ar <= 1, "lda smaller than a row of A");
  A.check(ldb >= bc || br <= 1, "ldb smaller than a row of B");
  A.check(ldc >= n || m <= 1, "ldc smaller than n");
  if (k > 0 && alpha != 0.0f) {
    A.need(a, span(ar, ac, lda), "a");
    A.need(b, span(br, bc, ldb), "b");
  }
  A.need(c, span(m, n, ldc), "c");
  if (!A.ok()) return nullptr;
  A.kernels->sgemm(ta, tb, m, n, k, alpha, a.data, lda, b.data, ldb, beta, c.data, ldc);
  return nullptr;
}

napi_value js_axpy(napi_env env, napi_callback_info info) {
  Args A(env, info, 3, "axpy");
  auto y = A.f32(0, "y");
  const float alpha = A.real(1, "alpha");
  auto x = A.f32(2, "x");
  if (!A.ok()) return nullptr;
  A.need(x, y.length, "x");
  if (!A.ok()) return nullptr;
  A.kernels->axpy(y.length, alpha, x.data, y.data);
  return nullptr;
}

napi_value js_average(napi_env env, napi_callback_info info) {
  Args A(env, info, 2, "average");
  auto a = A.f32(0, "a");
  auto b = A.f32(1, "b");
  if (!A.ok()) return nullptr;
  A.need(b, a.length, "b");
  if (!A.ok()) return nullptr;
  A.kernels->average(a.length, a.data, b.data);
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
    {"axpy", js_axpy},
    {"average", js_average},
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
