/** A cluster run that is not on a terminal (piped, in the background) prints a progress line now and then. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressLines } from '../../src/cli/cluster-display.js';

test('a progress line every interval at most, none once the budget is reached', () => {
  const lines: string[] = [];
  let clock = 0;
  const p = progressLines(1000, 1000, (l) => lines.push(l), 10_000, () => clock);
  const worker = (steps: number, alive = true) => ({ steps, trainLoss: 0.5, exchanges: steps / 2, idle: 0.1, alive });
  clock = 5_000;
  p.update([worker(100), worker(100)], { steps: 200 });
  assert.equal(lines.length, 0, 'not yet');
  clock = 12_000;
  p.update([worker(150), worker(150, false)], { steps: 300, accuracy: 0.9123 });
  assert.deepEqual(lines, ['steps 300 of 1000 (30%) in 12 s, 1 workers, 75 exchanges, idle 10.0%, test accuracy at the average 91.23% (first 1000 held-out examples)']);
  clock = 15_000;
  p.update([worker(200)], { steps: 400 });
  assert.equal(lines.length, 1, 'within the interval');
  clock = 40_000;
  p.update([worker(500)], { steps: 1000 });
  assert.equal(lines.length, 1, 'the summary follows the end');
});
