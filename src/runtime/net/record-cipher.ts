/**
 * ChaCha20-Poly1305 (RFC 8439) on one record at a time, from an input buffer into an output buffer — the same one
 * (in place) or one apart — for sealed channels (sealed-channel.ts). Two implementations of one contract: the native
 * addon's (Node's own OpenSSL, no allocation: native/aead.cc) and node:crypto's (the same cipher, each output in a
 * new buffer copied over), used when the addon is not built.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { nativeAead } from '../../engine/backends/native/index.js';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

export interface RecordCipher {
  readonly name: 'native' | 'node:crypto';
  /** Encrypts `input` into `output` (as long; itself or apart) and writes the tag (16 bytes) into `tag`. */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, input: Uint8Array, output: Uint8Array, tag: Uint8Array): void;
  /** Decrypts `input` into `output` if `tag` verifies; false otherwise (output then never to be used). */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, input: Uint8Array, output: Uint8Array, tag: Uint8Array): boolean;
}

const CIPHER = 'chacha20-poly1305';

export const nodeCryptoCipher: RecordCipher = {
  name: 'node:crypto',
  seal(key, nonce, aad, input, output, tag) {
    const cipher = createCipheriv(CIPHER, key, nonce, { authTagLength: AEAD_TAG_BYTES });
    cipher.setAAD(aad, { plaintextLength: input.length });
    output.set(cipher.update(input));
    cipher.final();
    tag.set(cipher.getAuthTag());
  },
  open(key, nonce, aad, input, output, tag) {
    const decipher = createDecipheriv(CIPHER, key, nonce, { authTagLength: AEAD_TAG_BYTES });
    decipher.setAAD(aad, { plaintextLength: input.length });
    decipher.setAuthTag(tag);
    const plain = decipher.update(input);
    try {
      decipher.final();
    } catch {
      return false;
    }
    output.set(plain);
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
