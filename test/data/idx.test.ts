import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { UsageError } from '../../src/core/errors.js';
import { encodeIdx, parseIdx, type IdxType } from '../../src/data/idx.js';

test('IDX round trip for every value type, raw and gzip-compressed', () => {
  const values = [0, 1, -2, 100, -128, 127];
  const cases: [IdxType, number[]][] = [
    ['u8', [0, 1, 2, 200, 255, 7]],
    ['i8', values],
    ['i16', [0, 1, -2, 30000, -32768, 5]],
    ['i32', [0, 1, -2, 2147483647, -2147483648, 5]],
    ['f32', [0, 1.5, -2.25, 1048576.5, -0.125, 3]],
    ['f64', [0, Math.PI, -Math.E, 1e300, -1e-300, 3]],
  ];
  for (const [type, data] of cases) {
    const bytes = encodeIdx(type, [2, 3], data);
    for (const input of [bytes, gzipSync(bytes)]) {
      const a = parseIdx(input, 'x');
      assert.equal(a.type, type);
      assert.deepEqual(a.dims, [2, 3]);
      assert.deepEqual(Array.from(a.data), data);
    }
  }
});

test('IDX values are big-endian with the documented header layout', () => {
  const bytes = Uint8Array.from([0, 0, 0x0c, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0x00, 0x00, 0x01, 0x02, 0xff, 0xff, 0xff, 0xfe]);
  const a = parseIdx(bytes, 'hand-built');
  assert.equal(a.type, 'i32');
  assert.deepEqual(a.dims, [1, 2]);
  assert.deepEqual(Array.from(a.data), [258, -2]);
  assert.deepEqual(encodeIdx('i32', [1, 2], [258, -2]), bytes);
});

test('malformed IDX bytes are one-line UsageErrors naming the source', () => {
  const good = encodeIdx('u8', [2, 2], [1, 2, 3, 4]);
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(0), /truncated header/],
    [good.subarray(0, 6), /truncated header/],
    [good.subarray(0, good.length - 1), /truncated data \(3 bytes, expected 4/],
    [Uint8Array.from([...good, 0]), /1 unexpected bytes/],
    [Uint8Array.from([1, ...good.subarray(1)]), /bad magic number 0x01000802/],
    [Uint8Array.from([0, 0, 0x0a, 2, ...good.subarray(4)]), /bad magic number/],
    [Uint8Array.from([0, 0, 0x08, 0]), /bad magic number/],
  ];
  for (const [bytes, problem] of cases) {
    assert.throws(
      () => parseIdx(bytes, 'some/file-idx'),
      (err: unknown) => err instanceof UsageError && err.message.startsWith('IDX file some/file-idx: ') && problem.test(err.message) && !err.message.includes('\n'),
    );
  }
});
