// The C library's allocator, where it can be told: glibc's mallopt and malloc_trim. Array buffers come from malloc;
// by default glibc raises its mmap threshold up to 32 MB as large blocks are freed (so that model-sized buffers end
// up in the heap, where freed memory stays resident) and gives each thread an arena of its own.
#include <node_api.h>
#include <v8.h>

#include <cstddef>
#include <cstdint>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace gs {

// tuneAllocator(mmapThreshold, arenaMax) → true where applied (glibc), false elsewhere.
napi_value js_tune_allocator(napi_env env, napi_callback_info info) {
  std::size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  uint32_t threshold = 0, arenas = 0;
  if (argc < 2 || napi_get_value_uint32(env, argv[0], &threshold) != napi_ok || napi_get_value_uint32(env, argv[1], &arenas) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tuneAllocator: expected (mmapThreshold, arenaMax) as integers");
    return nullptr;
  }
  bool applied = false;
#if defined(__GLIBC__)
  applied = mallopt(M_MMAP_THRESHOLD, static_cast<int>(threshold)) == 1 && mallopt(M_ARENA_MAX, static_cast<int>(arenas)) == 1;
#endif
  napi_value out;
  napi_get_boolean(env, applied, &out);
  return out;
}

// trimAllocator() → true if memory was given back to the system (glibc), false otherwise.
napi_value js_trim_allocator(napi_env env, napi_callback_info) {
  bool released = false;
#if defined(__GLIBC__)
  released = malloc_trim(0) == 1;
#endif
  napi_value out;
  napi_get_boolean(env, released, &out);
  return out;
}

// relieveHeap() → tells V8 the process is under moderate memory pressure: its next full collection (started now,
// incrementally) compacts and gives back the young generation grown beyond what the live objects need.
napi_value js_relieve_heap(napi_env env, napi_callback_info) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate) isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kModerate);
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

void register_allocator(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "tuneAllocator", NAPI_AUTO_LENGTH, js_tune_allocator, nullptr, &fn);
  napi_set_named_property(env, exports, "tuneAllocator", fn);
  napi_create_function(env, "trimAllocator", NAPI_AUTO_LENGTH, js_trim_allocator, nullptr, &fn);
  napi_set_named_property(env, exports, "trimAllocator", fn);
  napi_create_function(env, "relieveHeap", NAPI_AUTO_LENGTH, js_relieve_heap, nullptr, &fn);
  napi_set_named_property(env, exports, "relieveHeap", fn);
}

}  // namespace gs
