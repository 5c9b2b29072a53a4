/**
 * A peer's memory keeper: glibc's settings applied where the addon and glibc are, a no-op elsewhere, stoppable; and
 * the young generation V8 grew given back when V8 is told of memory pressure.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { nativeAllocator } from '../../src/engine/backends/native/index.js';
import { YOUNG_GENERATION_CEILING_BYTES, keepMemorySmall, youngGenerationBytes } from '../../src/runtime/allocator.js';

test('keepMemorySmall applies glibc settings through the addon when both are there, watches the young generation when asked, and stops', () => {
  const glibc = process.platform === 'linux' && Boolean((process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })?.header?.glibcVersionRuntime);
  const kept = keepMemorySmall();
  assert.equal(kept.tuned, glibc && nativeAllocator() !== null);
  assert.equal(kept.watched, false, 'the young generation is watched only when asked');
  kept.stop();
  const lean = keepMemorySmall({ youngGeneration: true });
  assert.equal(lean.watched, nativeAllocator() !== null);
  lean.stop();
  if (kept.tuned) assert.equal(typeof nativeAllocator()!.trim(), 'boolean');
});

test('a young generation grown by surviving objects shrinks under the pressure the keeper signals', { skip: nativeAllocator() === null && 'no native addon' }, async () => {
  // Objects that survive scavenges make V8 double the young generation up to its maximum (32 MB by default)...
  let kept: object[] = [];
  for (let i = 0; i < 3_000_000; i++) {
    kept.push({ i });
    if (kept.length > 200_000) kept = [];
  }
  kept = [];
  const grown = youngGenerationBytes();
  assert.ok(grown > YOUNG_GENERATION_CEILING_BYTES, `grown to ${grown >> 20} MB`);
  // ...where it stays while the process keeps allocating (above 1 MB/s), unless V8 is told of memory pressure.
  nativeAllocator()!.relieveHeap();
  let garbage: number[][] = [];
  for (let k = 0; k < 100 && youngGenerationBytes() > YOUNG_GENERATION_CEILING_BYTES; k++) {
    for (let j = 0; j < 2000; j++) garbage.push([j, k]);
    garbage = [];
    await sleep(20);
  }
  assert.ok(youngGenerationBytes() <= YOUNG_GENERATION_CEILING_BYTES, `still ${youngGenerationBytes() >> 20} MB`);
});
