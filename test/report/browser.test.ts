import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { gossamer } from '../cli/run.js';
import { writeSwarmKey } from '../../src/runtime/net/swarm-key.js';
import { browserSkip, chartCounts, launchBrowser, liveCli, liveCounts, type Browser } from './browser.js';

const skip = browserSkip();

describe('in headless Chromium', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gossamer-browser-'));
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the report draws every chart with data points and no console error', async () => {
    const sim = join(dir, 'sim');
    const one = join(dir, 'one');
    assert.equal(gossamer(['sim', '--problem', 'quadratic', '--workers', '8', '--time', '10', '--no-plot', '--out', sim, '--json']).code, 0);
    const t = gossamer(['train', '--workers', '1', '--steps', '12', '--limit', '256', '--eval-limit', '100', '--eval-every', '4', '--log-every', '4', '--out', one, '--json']);
    assert.equal(t.code, 0, t.stderr);
    const file = join(dir, 'report.html');
    const r = gossamer(['report', sim, one, '--out', file]);
    assert.equal(r.code, 0, r.stderr);
    const { page, errors } = await browser.open(pathToFileURL(file).href);
    const counts = await chartCounts(page);
    for (const id of ['loss-steps', 'loss-seconds', 'loss-bytes', 'accuracy-steps', 'consensus-steps']) assert.ok(counts[id] > 0, `${id}: ${JSON.stringify(counts)}`);
    for (const [id, n] of Object.entries(counts)) assert.ok(n > 0, `${id} has no points`);
    // Every chart is drawn: an SVG with marks.
    assert.equal(await page.locator('.chart svg').count(), Object.keys(counts).length);
    const shot = join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(existsSync(shot) && statSync(shot).size > 10_000);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the live dashboard of a cluster run draws its curves, workers and topology as the run goes', async () => {
    const run = liveCli(['train', '--workers', '4', '--steps', '100000', '--limit', '256', '--eval-limit', '50', '--log-every', '20', '--out', join(dir, 'cluster'), '--no-display', '--dashboard']);
    try {
      const { page, errors } = await browser.open(await run.url);
      const counts = await liveCounts(page, ['loss-steps', 'accuracy-steps', 'consensus-steps', 'workers-steps', 'workers-exchanges', 'workers-idle']);
      // Four workers, four edges of the ring.
      assert.equal(counts['workers-steps'], 4);
      assert.equal(counts.topology, 8);
      // Some edge lights up once exchanges happen.
      await page.waitForFunction(() => (window as unknown as { gossamer: { views: Record<string, { data(n: string): Array<{ lit?: boolean }> }> } })
        .gossamer.views.topology.data('points').some((d) => d.lit === true), null, { timeout: 20_000 });
      await page.screenshot({ path: join(dir, 'cluster-dashboard.png'), fullPage: true });
      assert.equal(await run.interrupt(), 130, run.stderr());
      // The page hears how the run ended.
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'interrupted', null, { timeout: 10_000 });
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      await run.interrupt();
    }
  });

  test('the live dashboard of a one-worker run draws its training and test curves', async () => {
    const run = liveCli(['train', '--workers', '1', '--steps', '100000', '--limit', '256', '--eval-limit', '50', '--eval-every', '10', '--log-every', '5', '--out', join(dir, 'one-live'), '--dashboard', '0']);
    try {
      const { page, errors } = await browser.open(await run.url);
      const counts = await liveCounts(page, ['loss-steps', 'loss-seconds', 'accuracy-steps', 'workers-steps']);
      assert.equal(counts.topology, 1);
      await page.screenshot({ path: join(dir, 'one-dashboard.png'), fullPage: true });
      assert.equal(await run.interrupt(), 130, run.stderr());
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'interrupted', null, { timeout: 10_000 });
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      await run.interrupt();
    }
  });

  test('the live dashboard of a network peer draws its curves, its counts and the topology', async () => {
    const key = join(dir, 'swarm.key');
    writeSwarmKey(key);
    const common = [
      'peer', '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', key, '--workers', '2', '--algo', 'gossip', '--topology', 'ring',
      '--model', 'mlp', '--model-config', '{"hidden":[16]}', '--batch-size', '16', '--limit', '256', '--eval-limit', '64', '--steps', '100000', '--backend', 'js',
    ];
    const first = liveCli([...common, '--index', '0', '--out', join(dir, 'peer0'), '--dashboard']);
    let second: ReturnType<typeof liveCli> | undefined;
    try {
      const address = (await first.printed(/listening on (\S+)/))[1];
      second = liveCli([...common, '--index', '1', '--out', join(dir, 'peer1'), '--bootstrap', address, '--dashboard', '0']);
      const { page, errors } = await browser.open(await first.url);
      const counts = await liveCounts(page, ['loss-steps', 'loss-seconds', 'loss-bytes', 'workers-steps', 'workers-exchanges']);
      assert.equal(counts['workers-steps'], 1, 'a peer knows its own counts');
      assert.equal(counts.topology, 3, 'two workers and their edge');
      await page.screenshot({ path: join(dir, 'peer-dashboard.png'), fullPage: true });
      assert.equal(await first.interrupt(), 130, first.stderr());
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'interrupted', null, { timeout: 10_000 });
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      await first.interrupt();
      await second?.interrupt();
    }
  });

  test('the report of every kind of run (simulator, one worker, cluster, peer) draws them together', async () => {
    const dirs = ['sim', 'one', 'cluster', 'peer0'].map((d) => join(dir, d));
    const file = join(dir, 'all.html');
    const r = gossamer(['report', ...dirs, '--out', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).runs.map((x: { kind: string }) => x.kind), ['sim', 'train', 'cluster', 'peer']);
    const { page, errors } = await browser.open(pathToFileURL(file).href);
    const counts = await chartCounts(page);
    for (const id of ['loss-steps', 'loss-bytes', 'consensus-steps', 'workers-steps', 'workers-exchanges', 'workers-idle']) assert.ok(counts[id] > 0, `${id}: ${JSON.stringify(counts)}`);
    // The bars hold the cluster's four workers (the peer, interrupted, wrote no summary with its counts).
    assert.equal(counts['workers-steps'], 4);
    await page.screenshot({ path: join(dir, 'all.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
