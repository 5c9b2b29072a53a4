/**
 * Keeping a long-running process's C heap small (glibc, through the native addon; a no-op elsewhere). Array buffers
 * come from malloc, and by default glibc raises its mmap threshold up to 32 MB as large blocks are freed, so that the
 * model-sized buffers of the exchanges (2.6 MB for the MLP) end up in the heap, whose freed pages stay resident, and
 * gives each thread an arena of its own. Here blocks of 1 MB and more are mapped (and unmapped when freed), two
 * arenas serve all threads, and the free pages of the heap go back to the system every few seconds. Chunks of the
 * network layers (64 KB) stay in the heap: mapping each would cost system calls per chunk.
 */
import { nativeAllocator } from '../engine/backends/native/index.js';

export const MMAP_THRESHOLD_BYTES = 1 << 20;
export const ARENAS = 2;
export const TRIM_EVERY_MS = 2000;

/** Applies the settings and starts the trimming; returns what stops it (and whether the settings applied). */
export function keepAllocatorSmall(): { applied: boolean; stop: () => void } {
  const a = nativeAllocator();
  if (!a || !a.tune(MMAP_THRESHOLD_BYTES, ARENAS)) return { applied: false, stop: () => {} };
  const timer = setInterval(() => a.trim(), TRIM_EVERY_MS);
  timer.unref();
  return { applied: true, stop: () => clearInterval(timer) };
}
