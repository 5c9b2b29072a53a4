/**
 * Runs never overwrite each other: a run's default directory is named after a hash of its resolved configuration,
 * run.json records the configuration, the status and the summary, and a directory that holds a run is refused
 * unless --overwrite says to replace it; and the version a run can be traced to.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { configHash } from '../../src/cli/run-dir.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-rundir-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MAIN = resolve('src/cli/main.ts');
const TSX = import.meta.resolve('tsx');

/** The CLI run from another working directory (its default runs/ goes there). */
function gossamerIn(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SIM = ['sim', '--problem', 'quadratic', '--workers', '4', '--time', '20', '--json', '--no-plot'];

test('the configuration hash ignores the order of keys and changes with any value', () => {
  assert.equal(configHash({ a: 1, b: { c: [1, 2], d: 'x' } }), configHash({ b: { d: 'x', c: [1, 2] }, a: 1 }));
  assert.notEqual(configHash({ a: 1, b: 2 }), configHash({ a: 1, b: 3 }));
  assert.match(configHash({}), /^[0-9a-f]{8}$/);
});

test('runs that differ in one setting get their own directories; a finished run is not overwritten without --overwrite', () => {
  const a = gossamerIn(dir, [...SIM, '--lr', '0.05']);
  const b = gossamerIn(dir, [...SIM, '--lr', '0.1']);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const runs = readdirSync(join(dir, 'runs')).sort();
  assert.equal(runs.length, 2, runs.join(', '));
  for (const name of runs) assert.match(name, /^sim-acid-ring-4-[0-9a-f]{8}$/);
  const record = JSON.parse(readFileSync(join(dir, 'runs', runs[0], 'run.json'), 'utf8'));
  assert.equal(record.command, 'sim');
  assert.equal(record.version, JSON.parse(readFileSync(resolve('package.json'), 'utf8')).version);
  assert.equal(record.status, 'finished');
  assert.ok(record.config.lr === 0.05 || record.config.lr === 0.1);
  assert.equal(record.config.momentum, 0, 'defaults are part of the recorded configuration');
  assert.equal(typeof record.summary.consensus, 'number');
  assert.deepEqual(JSON.parse(a.stdout).config, JSON.parse(readFileSync(join(dir, 'runs', `sim-acid-ring-4-${configHash(JSON.parse(a.stdout).config)}`, 'run.json'), 'utf8')).config);

  // The same configuration again: its directory holds a finished run.
  const again = gossamerIn(dir, [...SIM, '--lr', '0.05']);
  assert.equal(again.code, 2);
  assert.match(again.stderr.trim(), /^gossamer: runs\/sim-acid-ring-4-[0-9a-f]{8} already holds a finished run; give --overwrite to replace it, or another --out$/);
  const replaced = gossamerIn(dir, [...SIM, '--lr', '0.05', '--overwrite']);
  assert.equal(replaced.code, 0, replaced.stderr);
  // An explicit --out that holds a run is refused alike.
  const out = join(dir, 'runs', runs[1]);
  const onto = gossamerIn(dir, [...SIM, '--lr', '0.2', '--out', out]);
  assert.equal(onto.code, 2);
  assert.match(onto.stderr, /already holds a finished run/);
});

test('bad input leaves no run behind', () => {
  const fresh = mkdtempSync(join(dir, 'bad-'));
  const r = gossamerIn(fresh, [...SIM, '--topology', 'complete', '--algo', 'acid']);
  assert.equal(r.code, 2);
  assert.deepEqual(readdirSync(fresh), []);
});

test('gossamer --version prints the package version', () => {
  const r = gossamerIn(dir, ['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), JSON.parse(readFileSync(resolve('package.json'), 'utf8')).version);
});

test('a run still marked running whose process is gone (killed by a signal) has failed: its directory is free again', () => {
  const out = join(dir, 'killed');
  const first = gossamerIn(dir, [...SIM, '--out', out]);
  assert.equal(first.code, 0, first.stderr);
  const file = join(out, 'run.json');
  const record = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(typeof record.pid, 'number');
  // As a process killed in the middle of its run leaves it: running, under a pid that no longer exists.
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  writeFileSync(file, JSON.stringify({ ...record, status: 'running', pid: Number(gone) }));
  const again = gossamerIn(dir, [...SIM, '--out', out]);
  assert.equal(again.code, 0, again.stderr);
  // A running run whose process lives (this test's) is refused.
  writeFileSync(file, JSON.stringify({ ...record, status: 'running', pid: process.pid }));
  const busy = gossamerIn(dir, [...SIM, '--out', out]);
  assert.equal(busy.code, 2);
  assert.match(busy.stderr, /already holds an unfinished run/);
});
