/**
 * Glue for the native compute addon (native/*.cc, built by node-gyp into build/Release/gossamer_native.node during
 * `npm ci`). The addon holds every kernel of the Backend interface in up to three instruction-set variants —
 * 'avx512' (AVX-512 F/VL/BW/DQ), 'avx2' (AVX2 + FMA) and 'scalar' (portable) — and reports which ones this CPU can
 * run. The best one is used unless GOSSAMER_ISA=avx2|scalar (or an explicit argument) asks for a lower one.
 *
 * The returned backend's methods are the addon's functions themselves (no JavaScript wrapper): arguments are read
 * straight from the typed arrays (zero-copy, any byteOffset, SharedArrayBuffer-backed arrays included), and sizes,
 * strides and indices are checked in C++ (a bad call throws a TypeError or RangeError, never touches memory out of
 * bounds).
 */
import { createRequire } from 'node:module';
import { KERNEL_NAMES, type Backend } from '../../backend.js';

/** Instruction sets of the addon, best first. */
export const NATIVE_ISAS = ['avx512', 'avx2', 'scalar'] as const;
export type NativeIsa = (typeof NATIVE_ISAS)[number];

interface Addon {
  isas(): string[];
  kernels(isa: string): Record<string, unknown> & { isa: string };
  kernelNames: string[];
  /** glibc's mallopt (M_MMAP_THRESHOLD, M_ARENA_MAX): true where applied. */
  tuneAllocator?(mmapThreshold: number, arenaMax: number): boolean;
  /** glibc's malloc_trim(0): true if memory went back to the system. */
  trimAllocator?(): boolean;
  /** V8 told of moderate memory pressure (native/allocator.cc). */
  relieveHeap?(): void;
  /** ChaCha20-Poly1305 through Node's OpenSSL (native/aead.cc). */
  aeadSeal?(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, input: Uint8Array, output: Uint8Array, tag: Uint8Array): void;
  aeadOpen?(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, input: Uint8Array, output: Uint8Array, tag: Uint8Array): boolean;
  firstNonFinite?(values: Float32Array): number;
}

// Relative to this module, both as src/engine/backends/native/index.ts and as dist/engine/backends/native/index.js.
const ADDON_PATH = '../../../../build/Release/gossamer_native.node';

let addon: Addon | null | undefined;
let loadError = '';
let warnedIsa = false;

function loadAddon(): Addon | null {
  if (addon !== undefined) return addon;
  try {
    const require = createRequire(import.meta.url);
    const loaded = require(ADDON_PATH) as Addon;
    if (typeof loaded?.isas !== 'function' || typeof loaded.kernels !== 'function') {
      throw new Error('the module is not the gossamer addon');
    }
    addon = loaded;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    loadError = code === 'MODULE_NOT_FOUND'
      ? 'build/Release/gossamer_native.node is not built'
      : (err instanceof Error ? err.message.split('\n')[0] : String(err));
    addon = null;
  }
  return addon;
}

/** Why the addon did not load ('' when it did or was not tried yet). */
export function nativeLoadError(): string {
  loadAddon();
  return loadError;
}

/** The C library allocator's settings and V8's memory pressure through the addon (null without the addon, or an addon built before them). */
export function nativeAllocator(): { tune(mmapThreshold: number, arenaMax: number): boolean; trim(): boolean; relieveHeap(): void } | null {
  const a = loadAddon();
  if (!a?.tuneAllocator || !a.trimAllocator || !a.relieveHeap) return null;
  const { tuneAllocator, trimAllocator, relieveHeap } = a;
  return { tune: (t, n) => tuneAllocator(t, n), trim: () => trimAllocator(), relieveHeap: () => relieveHeap() };
}

/**
 * ChaCha20-Poly1305 from input into output (in place or apart; seal writes the tag, open returns false if it fails),
 * or null.
 */
export function nativeAead(): {
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, input: Uint8Array, output: Uint8Array, tag: Uint8Array): void;
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, input: Uint8Array, output: Uint8Array, tag: Uint8Array): boolean;
} | null {
  const a = loadAddon();
  if (!a?.aeadSeal || !a.aeadOpen) return null;
  return { seal: a.aeadSeal, open: a.aeadOpen };
}

/** The index of the first NaN or infinity in `values` (-1 if none), or null without the addon. */
export function nativeFirstNonFinite(): ((values: Float32Array) => number) | null {
  return loadAddon()?.firstNonFinite ?? null;
}

/** Instruction sets this CPU can run with the addon, best first ([] when the addon is not available). */
export function nativeIsas(): NativeIsa[] {
  const a = loadAddon();
  if (!a) return [];
  return a.isas().filter((s): s is NativeIsa => (NATIVE_ISAS as readonly string[]).includes(s));
}

/** The best available instruction set not above the requested one. */
function chooseIsa(available: NativeIsa[], requested: string | undefined): NativeIsa | undefined {
  if (requested === undefined || requested === '' || requested === 'auto') return available[0];
  const rank = (NATIVE_ISAS as readonly string[]).indexOf(requested);
  if (rank < 0) {
    if (!warnedIsa) {
      warnedIsa = true;
      process.stderr.write(`gossamer: GOSSAMER_ISA must be one of ${NATIVE_ISAS.join(', ')} (got "${requested}"); using ${available[0]}\n`);
    }
    return available[0];
  }
  return available.find((isa) => NATIVE_ISAS.indexOf(isa) >= rank);
}

/**
 * The native backend, or null (without throwing) when the addon is missing, fails to load or lacks a kernel of the
 * interface (a stale build). `isa` (default: GOSSAMER_ISA, else the best this CPU runs) selects the instruction set;
 * asking for one the CPU lacks gives the best lower one.
 */
export function loadNativeBackend(isa?: NativeIsa | 'auto'): Backend | null {
  const a = loadAddon();
  if (!a) return null;
  try {
    const chosen = chooseIsa(nativeIsas(), isa ?? process.env.GOSSAMER_ISA);
    if (!chosen) {
      loadError = 'no instruction-set variant of the addon runs on this CPU';
      return null;
    }
    const kernels = a.kernels(chosen);
    const backend: Record<string, unknown> = { name: 'native', isa: kernels.isa };
    for (const name of KERNEL_NAMES) {
      if (typeof kernels[name] !== 'function') {
        loadError = `the addon has no ${name} kernel (rebuild it: node scripts/build-native.mjs)`;
        return null;
      }
      backend[name] = kernels[name];
    }
    return Object.freeze(backend) as unknown as Backend;
  } catch (err) {
    loadError = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return null;
  }
}
