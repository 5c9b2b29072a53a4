// The first non-finite value of a Float32Array, for the network's check of every f32 payload as it arrives
// (src/runtime/net/lane.ts): a branch-free pass over blocks that the compiler vectorises for the baseline
// instruction set (an exponent of all ones is an infinity or a NaN), at the speed of the cache rather than the
// JavaScript loop's one value per cycle; only a block that holds one is scanned again value by value.
//
//   firstNonFinite(values: Float32Array) → index of the first NaN or infinity, or -1
#include <node_api.h>

#include <cstddef>
#include <cstdint>

namespace gs {

namespace {

constexpr std::uint32_t kExponent = 0x7f800000u;
constexpr std::size_t kBlock = 1024;

// Whether any of n values has an exponent of all ones.
bool any_non_finite(const std::uint32_t* bits, std::size_t n) {
  std::uint32_t any = 0;
  for (std::size_t i = 0; i < n; ++i) any |= static_cast<std::uint32_t>((bits[i] & kExponent) == kExponent);
  return any != 0;
}

std::int64_t first_non_finite(const float* values, std::size_t n) {
  const std::uint32_t* bits = reinterpret_cast<const std::uint32_t*>(values);
  for (std::size_t start = 0; start < n; start += kBlock) {
    const std::size_t length = n - start < kBlock ? n - start : kBlock;
    if (!any_non_finite(bits + start, length)) continue;
    for (std::size_t i = start; i < start + length; ++i) {
      if ((bits[i] & kExponent) == kExponent) return static_cast<std::int64_t>(i);
    }
  }
  return -1;
}

napi_value js_first_non_finite(napi_env env, napi_callback_info info) {
  std::size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool is_typed = false;
  napi_typedarray_type type = napi_uint8_array;
  std::size_t length = 0;
  void* data = nullptr;
  if (argc == 1 && napi_is_typedarray(env, argv[0], &is_typed) == napi_ok && is_typed) {
    napi_get_typedarray_info(env, argv[0], &type, &length, &data, nullptr, nullptr);
  }
  if (!is_typed || type != napi_float32_array) {
    napi_throw_type_error(env, nullptr, "firstNonFinite: expected a Float32Array");
    return nullptr;
  }
  napi_value out;
  napi_create_int64(env, length == 0 ? -1 : first_non_finite(static_cast<const float*>(data), length), &out);
  return out;
}

}  // namespace

void register_finite(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "firstNonFinite", NAPI_AUTO_LENGTH, js_first_non_finite, nullptr, &fn);
  napi_set_named_property(env, exports, "firstNonFinite", fn);
}

}  // namespace gs
