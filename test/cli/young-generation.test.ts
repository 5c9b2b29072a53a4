/**
 * `gossamer peer`'s young generation stays at V8's initial size, also after a thread starts (V8 resets the growth
 * factor when it configures a new isolate), and an operator's own --max-semi-space-size is left alone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const MODULE = pathToFileURL(resolve('src/cli/young-generation.ts')).href;

/**
 * A process that may keep its young generation small, then starts a worker thread and allocates: its new space in MB
 * when it called (or would have called) keepYoungGenerationSmall, and at the end. (Loading TypeScript through tsx
 * grows it before the call.)
 */
function newSpaceMB(keep: boolean, nodeOptions = ''): { atCall: number; end: number } {
  const code = `
    import v8 from 'node:v8';
    import { Worker } from 'node:worker_threads';
    const mb = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1e6;
    const { keepYoungGenerationSmall } = await import(${JSON.stringify(MODULE)});
    if (${keep}) keepYoungGenerationSmall();
    const atCall = mb();
    const churn = () => { let keep = []; for (let r = 0; r < 60; r++) { for (let i = 0; i < 100000; i++) { const o = { a: i, b: [i] }; if (i % 50 === 0) keep.push(o); } if (keep.length > 50000) keep = []; } };
    churn();
    const worker = new Worker('setTimeout(() => {}, 50)', { eval: true });
    await new Promise((done) => worker.once('exit', done));
    await new Promise((done) => setTimeout(done, 250));
    churn();
    churn();
    process.stdout.write(JSON.stringify({ atCall, end: mb() }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: nodeOptions }, timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { atCall: number; end: number };
}

describe('young generation of a peer', { timeout: 120_000 }, () => {
  it('does not grow from then on, through a thread\'s start, where Node\'s default grows it to 16 MB semi-spaces', () => {
    const kept = newSpaceMB(true);
    assert.equal(kept.end, kept.atCall, `from ${kept.atCall} to ${kept.end} MB`);
    assert.ok(newSpaceMB(false).end >= 32, 'grown by default');
  });

  it('is left to an operator who gives --max-semi-space-size', () => {
    const { atCall, end } = newSpaceMB(true, '--max-semi-space-size=8');
    assert.ok(end > atCall && end <= 16.8, `from ${atCall} to ${end} MB`);
  });
});
