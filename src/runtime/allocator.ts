/**
 * Keeping a long-running peer's memory small, through the native addon (a no-op without it).
 *
 * The C heap (glibc): array buffers come from malloc, and by default glibc raises its mmap threshold up to 32 MB as
 * large blocks are freed, so that the model-sized buffers of the exchanges (2.6 MB for the MLP) end up in the heap,
 * whose freed pages stay resident, and gives each thread an arena of its own. Here blocks of 1 MB and more are mapped
 * (and unmapped when freed), two arenas serve all threads, and the free pages of the heap go back to the system every
 * few seconds. Chunks of the network layers (64 KB) stay in the heap: mapping each would cost system calls per chunk.
 *
 * V8's young generation: it grows to 32 MB while the modules load, and V8 shrinks it again only while the process
 * allocates less than 1 MB/s, which a peer exchanging 20–30 times a second does not. When asked (`gossamer peer
 * --lean-memory`) and the young generation is found above YOUNG_GENERATION_CEILING_BYTES, V8 is told of moderate
 * memory pressure: a full collection that compacts and gives the young generation back (4 MLP peers: ~35 MB less RSS
 * each, for 6–7 such collections in a 45 s run).
 */
import v8 from 'node:v8';
import { nativeAllocator } from '../engine/backends/native/index.js';

export const MMAP_THRESHOLD_BYTES = 1 << 20;
export const ARENAS = 2;
export const CHECK_EVERY_MS = 2000;
/** Both semi-spaces of the young generation; it doubles as it grows (1, 2, 4, 8, 16, 32 MB). */
export const YOUNG_GENERATION_CEILING_BYTES = 8 << 20;

/** The young generation's committed size, bytes. */
export function youngGenerationBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

export interface MemoryKeeper {
  /** Whether the C library's settings applied (glibc and the addon). */
  tuned: boolean;
  /** Whether the young generation is watched (asked for, and the addon). */
  watched: boolean;
  stop(): void;
}

export interface MemoryKeeperInit {
  /**
   * Watch the young generation and have V8 give it back above the ceiling: ~35 MB less per MLP peer for ~3% more CPU
   * on the main thread, which a machine running many more peers than it has cores cannot spare (at 32 peers on 2
   * cores the live topology re-formed more often and one run's final models ended 2e-3 apart instead of 1e-7).
   * @default false
   */
  youngGeneration?: boolean;
}

/** Applies the settings and starts the periodic trimming (and watching). */
export function keepMemorySmall(init: MemoryKeeperInit = {}): MemoryKeeper {
  const a = nativeAllocator();
  const tuned = a !== null && a.tune(MMAP_THRESHOLD_BYTES, ARENAS);
  const watched = a !== null && (init.youngGeneration ?? false);
  if (!a || (!tuned && !watched)) return { tuned, watched, stop: () => {} };
  const timer = setInterval(() => {
    if (watched && youngGenerationBytes() > YOUNG_GENERATION_CEILING_BYTES) a.relieveHeap();
    if (tuned) a.trim();
  }, CHECK_EVERY_MS);
  timer.unref();
  return { tuned, watched, stop: () => clearInterval(timer) };
}
