import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gossamer } from '../cli/run.js';
import { Dashboard } from '../../src/report/dashboard.js';
import { LiveRun } from '../../src/report/live.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-dashboard-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a live run lights the edges of the exchanges since the last update', () => {
  const live = new LiveRun({ name: 'r', kind: 'cluster', workers: 4, edges: [[0, 1], [1, 2], [2, 3], [0, 3]] });
  const lit = (messages: ReturnType<LiveRun['workers']>) =>
    (messages.find((m) => m.chart === 'topology')!.replace as Array<{ type: string; label: string; lit?: boolean }>).filter((d) => d.lit).map((d) => d.label);
  assert.deepEqual(lit(live.workers([{ steps: 1, exchanges: 1, peer: 1 }, { steps: 1, exchanges: 1, peer: 0 }, { steps: 1, exchanges: 0 }, { steps: 1, exchanges: 0 }])), ['0–1']);
  // No new exchange: nothing lit; worker 3's first exchange, with 2.
  assert.deepEqual(lit(live.workers([{ steps: 2, exchanges: 1, peer: 1 }, { steps: 2, exchanges: 1, peer: 0 }, { steps: 2, exchanges: 1, peer: 3 }, { steps: 2, exchanges: 1, peer: 2 }])), ['2–3']);
  // Rows become points of the curves; a page that connects late gets them all.
  assert.deepEqual(live.row({ t: 1, gradients: 8, consensus: 0.1, trainLoss: 1, testLoss: 1, testAccuracy: 0.5, communications: 2, seconds: 1 }).map((m) => m.chart),
    ['loss-steps', 'loss-seconds', 'accuracy-steps', 'accuracy-seconds', 'consensus-steps']);
  const snapshot = live.snapshot();
  assert.equal(snapshot.find((m) => m.chart === 'loss-steps')!.replace!.length, 2, 'its train and test loss');
});

test('the dashboard serves its page and an event stream on 127.0.0.1, and stops with the run', async () => {
  const dashboard = await Dashboard.start({ name: 'a <run>', kind: 'train', workers: 1, edges: [], port: 0 });
  assert.match(dashboard.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const page = await (await fetch(dashboard.url)).text();
  assert.ok(page.includes('a &lt;run&gt;') && !page.includes('a <run>'));
  assert.doesNotMatch(page, /<script[^>]*\ssrc=/i);
  dashboard.row({ t: 1, gradients: 1, consensus: 0, trainLoss: 2, communications: 0, seconds: 0.1 });
  const events = await fetch(new URL('/events', dashboard.url));
  const reader = events.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /^data: \{"status":"running"\}/);
  await dashboard.close('finished');
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += new TextDecoder().decode(value);
  }
  assert.match(first + rest, /"train loss"/);
  assert.match(rest, /event: end\ndata: \{"status":"finished"\}/);
});

test('a dashboard port in use or malformed is refused with one line and exit code 2', async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const { port } = busy.address() as AddressInfo;
  try {
    const r = gossamer(['train', '--workers', '1', '--steps', '3', '--limit', '64', '--out', join(dir, 'busy'), '--dashboard', String(port)]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim(), `gossamer: --dashboard: port ${port} on 127.0.0.1 is in use`);
  } finally {
    busy.close();
  }
  const bad = gossamer(['train', '--workers', '1', '--steps', '3', '--dashboard', '70000']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /port number/);
});
