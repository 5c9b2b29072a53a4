/**
 * Under a time budget (open mode's --duration) the learning-rate schedule follows whichever budget binds: its point
 * is the larger of the steps taken and the fraction of the time elapsed, in steps. A cosine over 100,000 steps that
 * the deadline cuts at 2,000 still reaches its floor at the deadline.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeRunSchedule } from '../../../src/runtime/schedule.js';
import { clockPoint } from '../../../src/runtime/net/peer-worker.js';

test('the clock\'s point of the schedule: the fraction of the time budget elapsed, in steps; 0 without a budget', () => {
  const opts = { steps: 1000, timeBudget: { start: 10_000, end: 20_000 } };
  assert.equal(clockPoint(opts, 9_000), 0);
  assert.equal(clockPoint(opts, 10_000), 0);
  assert.equal(clockPoint(opts, 12_500), 250);
  assert.equal(clockPoint(opts, 19_999), 999);
  assert.equal(clockPoint(opts, 20_000), 1000);
  assert.equal(clockPoint(opts, 99_000), 1000);
  assert.equal(clockPoint({ steps: 1000 }, 12_500), 0);
});

test('a cosine with warm-up over a budget that time cuts short: warm-up in the first 5% of the time, the floor at the deadline', () => {
  const steps = 100_000;
  const schedule = makeRunSchedule({ kind: 'cosine', lr: 0.1, warmup: steps / 20, totalSteps: steps, minLr: 0.001 });
  const budget = { steps, timeBudget: { start: 0, end: 60_000 } };
  // Only 2,000 steps are taken in the minute: by steps alone the rate would still be warming up at the deadline.
  const stepsAt = (ms: number) => Math.floor((2000 * ms) / 60_000);
  const lr = (ms: number) => schedule(Math.max(stepsAt(ms), clockPoint(budget, ms)));
  assert.ok(schedule(stepsAt(60_000)) < 0.05, 'the rate by steps alone, still warming up');
  assert.ok(Math.abs(lr(1_500) - 0.05) < 1e-3 && Math.abs(lr(3_000) - 0.1) < 1e-12, 'warm-up over the first 5% of the time');
  assert.ok(Math.abs(lr(30_000) - (0.001 + 0.099 * (1 + Math.cos(Math.PI * (30_000 / 60_000 - 0.05) / 0.95)) / 2)) < 1e-3);
  assert.ok(Math.abs(lr(60_000) - 0.001) < 1e-9, 'the floor at the deadline');
});
