// ChaCha20-Poly1305 in place, for the network's sealed channels (src/runtime/net/sealed-channel.ts), through the
// OpenSSL that Node itself links and exports: node:crypto allocates a new buffer for every output, and at a gigabyte
// a second those allocations and their collection cost more than the cipher.
//
//   aeadSeal(key, nonce, aad, input, output, tag)          encrypts input into output, writes the 16-byte tag
//   aeadOpen(key, nonce, aad, input, output, tag) → bool   decrypts input into output; false if the tag does not
//                                                          verify (output then holds garbage, never to be used)
// key: 32 bytes, nonce: 12, tag: 16; output as long as input, either input itself (in place) or not overlapping it;
// any Uint8Array (byteOffset honoured).
#include <node_api.h>
#include <openssl/evp.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace gs {

namespace {

struct Bytes {
  uint8_t* data = nullptr;
  std::size_t length = 0;
};

bool bytes_of(napi_env env, napi_value value, Bytes* out) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return false;
  napi_typedarray_type type;
  napi_value buffer;
  std::size_t offset = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &out->length, &data, &buffer, &offset) != napi_ok) return false;
  if (type != napi_uint8_array) return false;
  out->data = static_cast<uint8_t*>(data);
  return true;
}

constexpr int kArgs = 6;

// Reads (key, nonce, aad, input, output, tag), checking types, sizes and overlap; throws and returns false on a bad
// call.
bool read_args(napi_env env, napi_callback_info info, const char* name, Bytes args[kArgs]) {
  std::size_t argc = kArgs;
  napi_value argv[kArgs];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool ok = argc == kArgs;
  for (int i = 0; ok && i < kArgs; ++i) ok = bytes_of(env, argv[i], &args[i]);
  ok = ok && args[0].length == 32 && args[1].length == 12 && args[5].length == 16 && args[2].length <= INT_MAX && args[3].length <= INT_MAX;
  ok = ok && args[4].length == args[3].length;
  if (ok && args[4].data != args[3].data) {
    const uint8_t* in = args[3].data;
    const uint8_t* out = args[4].data;
    ok = out + args[4].length <= in || in + args[3].length <= out;
  }
  if (!ok) {
    char message[160];
    std::snprintf(message, sizeof message, "%s: expected (key[32], nonce[12], aad, input, output, tag[16]) as Uint8Arrays, output as long as input and in place or apart", name);
    napi_throw_type_error(env, nullptr, message);
  }
  return ok;
}

// One whole seal or open; false when OpenSSL refuses (for an open: the tag does not verify).
bool run(bool encrypt, Bytes args[kArgs]) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return false;
  int n = 0;
  uint8_t* out = args[4].data;
  const int length = static_cast<int>(args[3].length);
  bool ok = EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), nullptr, args[0].data, args[1].data, encrypt ? 1 : 0) == 1;
  if (ok && !encrypt) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, args[5].data) == 1;
  if (ok && args[2].length > 0) ok = EVP_CipherUpdate(ctx, nullptr, &n, args[2].data, static_cast<int>(args[2].length)) == 1;
  if (ok && length > 0) ok = EVP_CipherUpdate(ctx, out, &n, args[3].data, length) == 1;
  if (ok) ok = EVP_CipherFinal_ex(ctx, out + length, &n) == 1;
  if (ok && encrypt) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, args[5].data) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

napi_value js_aead_seal(napi_env env, napi_callback_info info) {
  Bytes args[kArgs];
  if (!read_args(env, info, "aeadSeal", args)) return nullptr;
  if (!run(true, args)) napi_throw_error(env, nullptr, "aeadSeal: the cipher failed");
  return nullptr;
}

napi_value js_aead_open(napi_env env, napi_callback_info info) {
  Bytes args[kArgs];
  if (!read_args(env, info, "aeadOpen", args)) return nullptr;
  napi_value out;
  napi_get_boolean(env, run(false, args), &out);
  return out;
}

}  // namespace

void register_aead(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "aeadSeal", NAPI_AUTO_LENGTH, js_aead_seal, nullptr, &fn);
  napi_set_named_property(env, exports, "aeadSeal", fn);
  napi_create_function(env, "aeadOpen", NAPI_AUTO_LENGTH, js_aead_open, nullptr, &fn);
  napi_set_named_property(env, exports, "aeadOpen", fn);
}

}  // namespace gs
