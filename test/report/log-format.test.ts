/** --log-format: the metrics rows also as CSV and as TensorBoard event files, the same values as metrics.jsonl. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { crc32c } from '../../src/core/crc32c.js';
import { readMetrics } from '../../src/report/metrics.js';
import { gossamer } from '../cli/run.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-log-format-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const sim = join(dir, 'sim');
const one = join(dir, 'one');

before(() => {
  const s = gossamer(['sim', '--problem', 'quadratic', '--workers', '4', '--time', '10', '--every', '2', '--no-plot', '--out', sim, '--json', '--log-format', 'csv,tensorboard']);
  assert.equal(s.code, 0, s.stderr);
  const t = gossamer(['train', '--workers', '1', '--steps', '12', '--limit', '256', '--eval-limit', '100', '--eval-every', '6', '--log-every', '4', '--out', one, '--json', '--log-format', 'tensorboard,csv']);
  assert.equal(t.code, 0, t.stderr);
});

test('CRC-32C: the check value of "123456789"', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
});

test('metrics.csv holds every row of metrics.jsonl, one column per field', () => {
  for (const run of [sim, one]) {
    const rows = readMetrics(join(run, 'metrics.jsonl'));
    const [head, ...lines] = readFileSync(join(run, 'metrics.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
    assert.equal(lines.length, rows.length);
    rows.forEach((row, k) => {
      for (const [key, v] of Object.entries(row)) assert.equal(lines[k][head.indexOf(key)], String(v), `${run} row ${k} ${key}`);
      // A field the row does not have is an empty cell (the one worker's evaluations come every other row).
      for (const [c, key] of head.entries()) if (!(key in row)) assert.equal(lines[k][c], '');
    });
  }
  assert.ok(readFileSync(join(sim, 'metrics.csv'), 'utf8').startsWith('t,consensus,objective,'), 'the simulator names its objective');
});

/** The records of a TFRecord file, their framing checked (lengths and masked CRC-32C). */
function records(file: string): Buffer[] {
  const masked = (c: number) => ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
  const bytes = readFileSync(file);
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const length = Number(bytes.readBigUInt64LE(at));
    assert.equal(bytes.readUInt32LE(at + 8), masked(crc32c(bytes.subarray(at, at + 8))), 'length CRC');
    const data = bytes.subarray(at + 12, at + 12 + length);
    assert.equal(bytes.readUInt32LE(at + 12 + length), masked(crc32c(data)), 'data CRC');
    out.push(data);
    at += 16 + length;
  }
  return out;
}

test('one TensorBoard event file per run: the file version, then one event per row', () => {
  for (const run of [sim, one]) {
    const files = readdirSync(join(run, 'tensorboard'));
    assert.equal(files.length, 1);
    assert.match(files[0], /^events\.out\.tfevents\.\d+\./);
    const events = records(join(run, 'tensorboard', files[0]));
    assert.ok(events[0].includes(Buffer.from('brain.Event:2')));
    assert.equal(events.length, 1 + readMetrics(join(run, 'metrics.jsonl')).length);
  }
});

// TensorBoard's own reader, where Python has it (GOSSAMER_TENSORBOARD_PYTHON, default python3).
const python = process.env.GOSSAMER_TENSORBOARD_PYTHON ?? 'python3';
const hasTensorBoard = spawnSync(python, ['-c', 'import tensorboard'], { encoding: 'utf8' }).status === 0;

test('TensorBoard reads the scalars at their gradient steps', { skip: hasTensorBoard ? false : `TensorBoard is not importable by ${python}` }, () => {
  const script = [
    'import json, sys',
    'from tensorboard.backend.event_processing import event_accumulator as ea',
    'acc = ea.EventAccumulator(sys.argv[1]); acc.Reload()',
    'print(json.dumps({tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}))',
  ].join('\n');
  for (const run of [sim, one]) {
    const r = spawnSync(python, ['-c', script, join(run, 'tensorboard')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const scalars = JSON.parse(r.stdout) as Record<string, Array<[number, number]>>;
    const rows = readMetrics(join(run, 'metrics.jsonl'));
    for (const key of run === sim ? ['consensus', 'objective', 't'] : ['trainLoss', 'testAccuracy', 'lr']) {
      const expected = rows.filter((row) => typeof row[key] === 'number').map((row) => [row.gradients, Math.fround(row[key] as number)]);
      assert.deepEqual(scalars[key], expected, `${run}: ${key}`);
    }
  }
});

test('--log-format refuses what it does not know, in one line', () => {
  const r = gossamer(['sim', '--problem', 'quadratic', '--time', '1', '--log-format', 'csv,xml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--log-format.*expected csv, tensorboard/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('a metrics row that comes once closing has begun is dropped: close resolves, the file holds the rows before', async () => {
  const { MetricsWriter } = await import('../../src/report/metrics.js');
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-late-row-'));
  try {
    const path = join(dir, 'metrics.jsonl');
    const writer = new MetricsWriter(path);
    const row = (step: number) => ({ step, time: step, loss: 1 / step }) as unknown as Parameters<typeof writer.write>[0];
    writer.write(row(1));
    const closed = writer.close();
    writer.write(row(2)); // a step ending during shutdown
    await closed;
    assert.deepEqual(readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l).step), [1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
