/** The allocator settings of a peer: applied where the addon and glibc are, a no-op elsewhere, and stoppable. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativeAllocator } from '../../src/engine/backends/native/index.js';
import { keepAllocatorSmall } from '../../src/runtime/allocator.js';

test('keepAllocatorSmall applies glibc settings through the addon when both are there, and its trimming stops', () => {
  const glibc = process.platform === 'linux' && Boolean((process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })?.header?.glibcVersionRuntime);
  const kept = keepAllocatorSmall();
  assert.equal(kept.applied, glibc && nativeAllocator() !== null);
  kept.stop();
  if (kept.applied) assert.equal(typeof nativeAllocator()!.trim(), 'boolean');
});
