import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/core/errors.js';
import {
  CHECKSUMS,
  decodeSafetensors,
  encodeSafetensors,
  getTensor,
  readSafetensors,
  readSafetensorsAsync,
  writeSafetensors,
  writeSafetensorsAsync,
} from '../../src/core/safetensors.js';

const enc = new TextEncoder();

/** Assembles a file from a header string (padded with spaces to `pad` bytes if given) and data bytes. */
function build(header: string, data: number[] | Uint8Array = [], pad?: number): Uint8Array {
  let h = enc.encode(header);
  if (pad !== undefined) h = Uint8Array.from([...h, ...new Array(pad - h.length).fill(0x20)]);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gossamer-st-'));
}

test('round trip of every dtype, scalars, empty tensors and metadata', () => {
  const tensors = {
    weights: { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-7, -0]) },
    'layer.0/bias': { data: Float64Array.from([Math.PI, -1e300]) },
    counts: { shape: [2, 2], data: Int32Array.from([1, -1, 2147483647, -2147483648]) },
    step: { shape: [], data: BigInt64Array.from([-(2n ** 62n)]) },
    ids: { dtype: 'I64' as const, data: [0, 1, -5, 2 ** 53 - 1] },
    mask: { data: Uint8Array.from([0, 255, 7]) },
    empty: { shape: [0, 4], data: new Float32Array(0) },
  };
  const bytes = encodeSafetensors(tensors, { format: 'gossamer', note: 'ünïcode' });
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, { format: 'gossamer', note: 'ünïcode' });
  assert.equal(back.file, '<buffer>');
  assert.deepEqual([...back.tensors.keys()].sort(), Object.keys(tensors).sort());
  const get = (k: string) => back.tensors.get(k)!;
  assert.deepEqual(get('weights'), { dtype: 'F32', shape: [2, 3], data: tensors.weights.data });
  assert.deepEqual(get('layer.0/bias'), { dtype: 'F64', shape: [2], data: tensors['layer.0/bias'].data });
  assert.deepEqual(get('counts'), { dtype: 'I32', shape: [2, 2], data: tensors.counts.data });
  assert.deepEqual(get('step'), { dtype: 'I64', shape: [], data: tensors.step.data });
  assert.deepEqual(get('ids'), { dtype: 'I64', shape: [4], data: BigInt64Array.from([0n, 1n, -5n, 2n ** 53n - 1n]) });
  assert.deepEqual(get('mask'), { dtype: 'U8', shape: [3], data: tensors.mask.data });
  assert.deepEqual(get('empty'), { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) });
  assert.ok(Object.is(get('weights').data[5], -0));
  const asNumbers = decodeSafetensors(encodeSafetensors({ ids: tensors.ids }), 'x', { int64: 'number' });
  assert.deepEqual(asNumbers.tensors.get('ids'), { dtype: 'I64', shape: [4], data: Float64Array.from([0, 1, -5, 2 ** 53 - 1]) });
  assert.throws(() => decodeSafetensors(bytes, 'x', { int64: 'number' }), /tensor "step": I64 value -4611686018427387904 at 0 is not a safe integer/);
  // Views into a larger buffer are written from their own range only.
  const big = new Float32Array([9, 9, 1, 2, 9]);
  assert.deepEqual(decodeSafetensors(encodeSafetensors({ v: { data: big.subarray(2, 4) } })).tensors.get('v')!.data, Float32Array.from([1, 2]));
});

test('a reference byte buffer from the format specification decodes', () => {
  // The reference implementation's own test vector: an I32 2 × 2 tensor of zeros.
  const header = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}';
  assert.equal(header.length, 60);
  const bytes = Uint8Array.from([60, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(header), ...new Array(16).fill(0)]);
  const st = decodeSafetensors(bytes);
  assert.deepEqual(st.tensors.get('test'), { dtype: 'I32', shape: [2, 2], data: new Int32Array(4) });
  assert.deepEqual(st.metadata, {});
  // The same tensor written by the encoder: header padded with spaces to a multiple of 8.
  assert.deepEqual(encodeSafetensors({ test: { shape: [2, 2], data: new Int32Array(4) } }, {}, { checksums: false }), build(header, new Array(16).fill(0), 64));
});

test('hand-built little-endian data, metadata, and out-of-order offsets decode', () => {
  const header =
    '{"b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]},"__metadata__":{"format":"pt"},' +
    '"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"c":{"dtype":"F64","shape":[],"data_offsets":[16,24]}}';
  const data = [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f];
  const st = decodeSafetensors(build(header, data, 200));
  assert.deepEqual(st.metadata, { format: 'pt' });
  assert.deepEqual(Array.from(getTensor(st, 'a', 'F32', [1, 2])), [1, -2]);
  assert.deepEqual(Array.from(getTensor(st, 'b', 'I32')), [3, -1]);
  assert.deepEqual(Array.from(getTensor(st, 'c', 'F64', [])), [1]);
  assert.throws(() => getTensor(st, 'a', 'F64'), /<buffer>: tensor "a" is F32, expected F64/);
  assert.throws(() => getTensor(st, 'a', 'F32', [2]), /has shape \[1, 2\], expected \[2\]/);
  assert.throws(() => getTensor(st, 'z', 'F32'), /no tensor "z"/);
  assert.deepEqual([...st.tensors.keys()], ['a', 'b', 'c'], 'file order');
});

test('the encoder lays out an 8-aligned header and aligned tensors by decreasing element size', () => {
  const bytes = encodeSafetensors({ u: { data: Uint8Array.from([1]) }, f: { data: Float32Array.from([1]) }, d: { data: Float64Array.from([1]) } });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assert.deepEqual(header.d.data_offsets, [0, 8]);
  assert.deepEqual(header.f.data_offsets, [8, 12]);
  assert.deepEqual(header.u.data_offsets, [12, 13]);
  assert.equal(bytes.length, 8 + n + 13);
  assert.deepEqual(Object.keys(header.__metadata__), ['tensor_crc32'], 'no metadata but the checksums');
});

test('bad inputs to the encoder are UsageErrors', () => {
  assert.throws(() => encodeSafetensors({ x: { shape: [2, 2], data: new Float32Array(3) } }), /3 values for shape \[2, 2\]/);
  assert.throws(() => encodeSafetensors({ x: { dtype: 'F32', data: new Float64Array(1) } }), /does not match/);
  assert.throws(() => encodeSafetensors({ x: { data: [1, 2] } }), /give a dtype/);
  assert.throws(() => encodeSafetensors({ x: { dtype: 'I64', data: [1.5] } }), /not a safe integer/);
  assert.throws(() => encodeSafetensors({ __metadata__: { data: new Float32Array(1) } }), /invalid tensor name/);
  assert.throws(() => encodeSafetensors({ x: { dtype: 'BF16' as 'F32', data: new Float32Array(1) } }), /unsupported dtype/);
  assert.throws(() => encodeSafetensors({}, { n: 3 as unknown as string }), /must be a string/);
});

test('each kind of corruption is a one-line UsageError naming the file and the problem', () => {
  const t = (offsets: string, dtype = 'F32', shape = '[2]') => `"t":{"dtype":"${dtype}","shape":${shape},"data_offsets":${offsets}}`;
  const eight = new Array(8).fill(0);
  const lengthOnly = (n: bigint) => {
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigUint64(0, n, true);
    return b;
  };
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(5), /truncated: 5 bytes/],
    [lengthOnly(9n), /header length 9 exceeds the 8 bytes after it/],
    [lengthOnly(2n ** 63n), /header length \d+ exceeds/],
    [build('{"t":', eight), /not valid JSON/],
    [build('[1,2]', eight), /does not start with a JSON object/],
    [build('{}x', []), /not valid JSON/],
    [Uint8Array.from([...build('{"a":1}', [])].map((v, i) => (i === 10 ? 0xff : v))), /not valid UTF-8/],
    [build(`{${t('[0,8]', 'F16')}}`, eight), /unsupported dtype "F16"/],
    [build(`{${t('[0,8]', 'F32', '[2,-1]')}}`, eight), /invalid shape/],
    [build(`{${t('[0,8]', 'F32', '"2"')}}`, eight), /invalid shape/],
    [build(`{${t('[0]')}}`, eight), /invalid data_offsets/],
    [build(`{${t('[0,8.5]')}}`, eight), /invalid data_offsets/],
    [build(`{${t('[8,0]')}}`, eight), /end before they begin/],
    [build(`{${t('[0,16]', 'F32', '[4]')}}`, eight), /beyond the 8-byte data section/],
    [build(`{${t('[0,8]', 'F32', '[3]')}}`, eight), /is 8 bytes but F32 \[3\] needs 12/],
    [build(`{${t('[0,8]', 'I64', '[2]')}}`, eight), /needs 16/],
    [build(`{${t('[0,8]')},"u":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}`, eight.concat([0, 0, 0, 0])), /overlap/],
    [build(`{${t('[4,12]')}}`, eight.concat([0, 0, 0, 0])), /hole at bytes \[0, 4\)/],
    [build(`{${t('[0,8]')}}`, eight.concat([1])), /1 bytes not covered/],
    [build('{"__metadata__":{"k":1}}'), /metadata "k" is not a string/],
    [build('{"__metadata__":[]}'), /__metadata__ is not an object/],
    [build('{"t":5}'), /tensor "t" is not an object/],
  ];
  for (const [bytes, problem] of cases) {
    assert.throws(
      () => decodeSafetensors(bytes, 'ckpt/model.safetensors'),
      (err: unknown) => {
        assert.ok(err instanceof UsageError, String(err));
        assert.ok(err.message.startsWith('safetensors file ckpt/model.safetensors: '), err.message);
        assert.match(err.message, problem);
        assert.ok(!err.message.includes('\n'));
        return true;
      },
    );
  }
});

test('files: write atomically, overwrite, leave no temporary files, keep the old file on failure', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'model.safetensors');
    writeSafetensors(file, { w: { data: Float32Array.from([1, 2]) } }, { step: '1' });
    assert.deepEqual(readSafetensors(file).metadata, { step: '1' });
    // A temporary file left by a crashed writer does not disturb reading or the next write.
    writeFileSync(`${file}.tmp-${process.pid}`, 'partial');
    writeSafetensors(file, { w: { data: Float32Array.from([3, 4]) } }, { step: '2' });
    const st = readSafetensors(file);
    assert.deepEqual(st.metadata, { step: '2' });
    assert.deepEqual(st.tensors.get('w')!.data, Float32Array.from([3, 4]));
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
    // A failed write leaves the previous checkpoint as it was.
    const before = readFileSync(file);
    assert.throws(() => writeSafetensors(file, { w: { shape: [3], data: Float32Array.from([1]) } }), UsageError);
    assert.deepEqual(readFileSync(file), before);
    assert.throws(() => writeSafetensors(join(dir, 'missing', 'm.safetensors'), { w: { data: new Float32Array(1) } }), (e: unknown) =>
      e instanceof UsageError && e.message.includes(join(dir, 'missing', 'm.safetensors')) && /cannot write/.test(e.message),
    );
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
    // Asynchronous variants.
    await writeSafetensorsAsync(file, { big: { data: new Float64Array(100000).fill(0.5) }, i: { data: Int32Array.from([7]) } });
    const a = await readSafetensorsAsync(file);
    assert.equal(a.tensors.get('big')!.data.length, 100000);
    assert.equal(a.tensors.get('big')!.data[99999], 0.5);
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
    assert.throws(() => readSafetensors(join(dir, 'nope.safetensors')), /nope\.safetensors: not found/);
    await assert.rejects(readSafetensorsAsync(join(dir, 'nope.safetensors')), UsageError);
    assert.ok(!existsSync(`${file}.tmp-${process.pid}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Where a tensor's bytes are in an encoded buffer. */
function dataRange(bytes: Uint8Array, name: string): [number, number] {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const [begin, end] = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))[name].data_offsets;
  return [8 + n + begin, 8 + n + end];
}

test('every tensor carries a CRC-32 of its bytes, and a flipped bit in any of them is refused naming it', () => {
  const tensors = {
    digits: { data: enc.encode('123456789') },
    w: { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-7, 6]) },
    steps: { data: BigInt64Array.from([5n]) },
    empty: { data: new Float32Array(0) },
  };
  const bytes = encodeSafetensors(tensors, { note: 'x' });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const sums = JSON.parse(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))).__metadata__[CHECKSUMS]);
  assert.equal(sums.digits, 'cbf43926', 'the standard CRC-32 check value');
  assert.equal(sums.empty, '00000000');
  assert.deepEqual(Object.keys(sums).sort(), Object.keys(tensors).sort());
  const back = decodeSafetensors(bytes);
  assert.equal(back.checksummed, true);
  assert.deepEqual(back.metadata, { note: 'x' }, 'the checksums are not part of the metadata read');
  for (const name of ['digits', 'w', 'steps']) {
    const [begin, end] = dataRange(bytes, name);
    for (const at of [begin, end - 1]) {
      const damaged = Uint8Array.from(bytes);
      damaged[at] ^= 0x40;
      assert.throws(() => decodeSafetensors(damaged, 'ck.safetensors'), (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.match(err.message, new RegExp(`^safetensors file ck\\.safetensors: tensor "${name}" is damaged: its bytes have CRC-32 [0-9a-f]{8}, the file recorded ${sums[name]}$`));
        return true;
      });
    }
  }
  // Without checksums (another writer): read, but said to be unverified.
  const plain = decodeSafetensors(encodeSafetensors(tensors, {}, { checksums: false }));
  assert.equal(plain.checksummed, false);
  assert.deepEqual(plain.tensors.get('w')!.data, tensors.w.data);
  // The key is the format's own.
  assert.throws(() => encodeSafetensors(tensors, { [CHECKSUMS]: '{}' }), /"tensor_crc32" is reserved/);
});

test('the file writers write the bytes of the encoder, checksums included', async () => {
  const dir = tempDir();
  try {
    // More than one 4 MiB chunk, so that a checksum spans chunks.
    const big = new Float32Array(1_500_000).map((_, i) => Math.sin(i));
    const tensors = { big: { data: big }, small: { data: Int32Array.from([1, 2, 3]) }, none: { data: new Uint8Array(0) } };
    const expected = encodeSafetensors(tensors, { k: 'v' });
    writeSafetensors(join(dir, 'a'), tensors, { k: 'v' });
    await writeSafetensorsAsync(join(dir, 'b'), tensors, { k: 'v' });
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'a'))), expected);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'b'))), expected);
    assert.equal(readSafetensors(join(dir, 'a')).checksummed, true);
    writeSafetensors(join(dir, 'c'), tensors, {}, { checksums: false });
    assert.equal(readSafetensors(join(dir, 'c')).checksummed, false);
    const damaged = readFileSync(join(dir, 'a'));
    damaged[dataRange(damaged, 'big')[0] + 4_500_000] ^= 1;
    writeFileSync(join(dir, 'd'), damaged);
    assert.throws(() => readSafetensors(join(dir, 'd')), /tensor "big" is damaged/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('malformed checksum records are refused', () => {
  const t = '"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}';
  const meta = (sums: string) => `{"__metadata__":{"${CHECKSUMS}":${JSON.stringify(sums)}},${t}}`;
  const cases: [string, RegExp][] = [
    [meta('{"t":'), /"tensor_crc32" is not valid JSON/],
    [meta('[]'), /"tensor_crc32" is not an object/],
    [meta('{}'), /tensor "t" has no checksum/],
    [meta('{"t":"00000000","u":"00000000"}'), /a checksum for tensor "u", which the file does not hold/],
    [meta('{"t":"1234"}'), /checksum of tensor "t" is not 8 hex digits/],
    [meta('{"t":"00000000"}'), /tensor "t" is damaged/],
  ];
  for (const [header, problem] of cases) assert.throws(() => decodeSafetensors(build(header, [0x41])), problem);
  assert.equal(decodeSafetensors(build(meta('{"t":"d3d99e8b"}'), [0x41])).tensors.get('t')!.data[0], 0x41);
});
