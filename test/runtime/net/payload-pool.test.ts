import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PayloadPool } from '../../../src/runtime/net/payload-pool.js';

describe('payload pool', () => {
  it('reuses a buffer handed back, takes back only its own and each once, keeps two sizes', () => {
    const pool = new PayloadPool();
    const a = pool.take(64);
    assert.equal(a.length, 64);
    pool.give(new Float32Array(a.buffer)); // a view of any type on the buffer
    pool.give(a); // a second return is ignored
    const b = pool.take(64);
    assert.equal(b.buffer, a.buffer, 'the returned buffer is reused');
    assert.notEqual(pool.take(64).buffer, a.buffer, 'and handed out once');
    const foreign = new Uint8Array(64);
    pool.give(foreign);
    assert.notEqual(pool.take(64).buffer, foreign.buffer, 'a buffer the pool never issued is not taken');
    // Sizes: the oldest size's buffers go when a third size comes back.
    const [s1, s2, s3] = [pool.take(8), pool.take(16), pool.take(32)];
    for (const x of [s1, s2, s3]) pool.give(x);
    assert.notEqual(pool.take(8).buffer, s1.buffer);
    assert.equal(pool.take(16).buffer, s2.buffer);
    assert.equal(pool.take(32).buffer, s3.buffer);
  });
});
