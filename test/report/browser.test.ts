import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { gossamer } from '../cli/run.js';
import { browserSkip, chartCounts, launchBrowser, type Browser } from './browser.js';

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
    const t = gossamer(['train', '--steps', '12', '--limit', '256', '--eval-limit', '100', '--eval-every', '4', '--log-every', '4', '--out', one, '--json']);
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
});
