/**
 * ChaCha20-Poly1305 (RFC 8439) on one record at a time, in place, for sealed channels (sealed-channel.ts). Two
 * implementations of one contract: the native addon's (Node's own OpenSSL, no allocation: native/aead.cc) and
 * node:crypto's (the same cipher, each output in a new buffer copied back), used when the addon is not built.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { nativeAead } from '../../engine/backends/native/index.js';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

export interface RecordCipher {
  readonly name: 'native' | 'node:crypto';
  /** Encrypts `data` in place and writes its tag (16 bytes) into `tag`. */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tag: Uint8Array): void;
  /** Decrypts `data` in place if `tag` verifies; false (data unchanged or garbage, never to be used) otherwise. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, tag: Uint8Array): boolean;
}

const CIPHER = 'chacha20-poly1305';

export const nodeCryptoCipher: RecordCipher = {
  name: 'node:crypto',
  seal(key, nonce, aad, data, tag) {
    const cipher = createCipheriv(CIPHER, key, nonce, { authTagLength: AEAD_TAG_BYTES });
    cipher.setAAD(aad, { plaintextLength: data.length });
    data.set(cipher.update(data));
    cipher.final();
    tag.set(cipher.getAuthTag());
  },
  open(key, nonce, aad, data, tag) {
    const decipher = createDecipheriv(CIPHER, key, nonce, { authTagLength: AEAD_TAG_BYTES });
    decipher.setAAD(aad, { plaintextLength: data.length });
    decipher.setAuthTag(tag);
    const plain = decipher.update(data);
    try {
      decipher.final();
    } catch {
      return false;
    }
    data.set(plain);
    return true;
  },
};

let chosen: RecordCipher | null = null;

/** The native implementation when the addon has it, else node:crypto's. */
export function recordCipher(): RecordCipher {
  if (chosen) return chosen;
  const native = nativeAead();
  chosen = native ? { name: 'native', seal: native.seal, open: native.open } : nodeCryptoCipher;
  return chosen;
}
