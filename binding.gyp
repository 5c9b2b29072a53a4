{
  "targets": [
    {
      "target_name": "gossamer_native",
      "sources": [
        "native/addon.cc",
        "native/allocator.cc",
        "native/aead.cc",
        "native/finite.cc",
        "native/isa_scalar.cc",
        "native/isa_avx2.cc",
        "native/isa_avx512.cc"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O3", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math", "-fvisibility=hidden"],
      "cflags_cc": ["-std=gnu++17"],
      "cflags!": ["-O2"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-O3", "-fopenmp-simd", "-fno-math-errno", "-fvisibility=hidden"],
        "CLANG_CXX_LANGUAGE_STANDARD": "gnu++17"
      }
    }
  ]
}
