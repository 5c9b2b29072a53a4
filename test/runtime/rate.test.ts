import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { RateControl } from '../../src/algorithms/rate-control.js';
import { LocalClock } from '../../src/runtime/rate.js';
import { agentHarness } from './harness.js';

/** Drives a RateControl like the two loops would, greedily: exchange while allowed, step when allowed. */
function drive(rate: number, mode: 'poisson' | 'exact', steps: number) {
  const rc = new RateControl(rate, mode, new Rng(3));
  const perStep: number[] = [];
  let last = 0;
  while (rc.steps < steps) {
    let guard = 0;
    while (!rc.canStep()) {
      assert.ok(rc.canExchange(), `step ${rc.steps}: the compute loop waits for an exchange that may not start`);
      rc.exchangeDone();
      assert.ok(++guard < 1000);
    }
    rc.stepDone();
    perStep.push(rc.exchanges - last);
    last = rc.exchanges;
  }
  return { rc, perStep };
}

test('rate control: exchanges per step match the rate, exactly or on average, above and below one', () => {
  for (const rate of [1, 2, 3.5]) {
    const { rc } = drive(rate, 'exact', 1000);
    assert.ok(Math.abs(rc.exchanges - rate * (rc.steps - 1)) <= 1, `exact ${rate}: ${rc.exchanges} exchanges in ${rc.steps} steps`);
  }
  for (const rate of [0.5, 0.25]) {
    const { rc } = drive(rate, 'exact', 1000);
    assert.ok(Math.abs(rc.exchanges - rate * rc.steps) <= 1, `exact ${rate}: ${rc.exchanges} exchanges in ${rc.steps} steps`);
  }
  for (const rate of [2, 0.5]) {
    const { rc, perStep } = drive(rate, 'poisson', 20000);
    const ratio = rc.exchanges / rc.steps;
    assert.ok(Math.abs(ratio - rate) < 0.05 * rate, `poisson ${rate}: ${ratio} exchanges per step`);
    // Poisson quotas vary from step to step (not a fixed pattern).
    assert.ok(new Set(perStep).size > 2);
  }
  // rate 0: never an exchange, never a wait.
  const zero = new RateControl(0, 'poisson', new Rng(1));
  assert.equal(zero.canExchange(), false);
  assert.equal(zero.canStep(), true);
});

test('rate control: with rate ≥ 1 the exchanges of a step overlap it; with rate < 1 one exchange spans 1/rate steps', () => {
  const a = new RateControl(2, 'exact', new Rng(1));
  assert.equal(a.canStep(), true); // Q(0) = 0
  assert.equal(a.canExchange(), true); // the quota of step 1 may be exchanged during step 1
  a.exchangeDone();
  a.exchangeDone();
  assert.equal(a.canExchange(), false); // quota of step 1 done: wait for the step
  a.stepDone();
  assert.equal(a.canStep(), true);
  assert.equal(a.canExchange(), true);
  const b = new RateControl(0.5, 'exact', new Rng(1));
  assert.equal(b.canExchange(), true); // exchange 1 may start at once…
  b.stepDone();
  assert.equal(b.canStep(), true);
  b.stepDone();
  assert.equal(b.canStep(), false); // …and must be done before step 3
  b.exchangeDone();
  assert.equal(b.canStep(), true);
  assert.equal(b.canExchange(), true); // exchange 2 may start once 2 steps are done
});

test('rate control: exchanges taken in advance count towards later quotas, so the long-run rate is unchanged', () => {
  const a = new RateControl(1, 'exact', new Rng(1));
  a.exchangeDone(); // the quota of step 1
  assert.equal(a.canExchange(), false);
  assert.equal(a.canExchange(1), true); // one more, in advance of step 2's quota
  a.exchangeDone();
  assert.equal(a.canExchange(1), false); // never more than one ahead
  a.stepDone();
  a.stepDone();
  assert.equal(a.canStep(), true); // step 2's quota was already done
  assert.equal(a.canExchange(), true); // step 3's quota is open again
  assert.equal(a.exchanges, 2);
  // rate < 1: the next exchange may come one period early, not more.
  const b = new RateControl(0.25, 'exact', new Rng(1));
  b.exchangeDone(); // exchange 1 (due by step 4)
  assert.equal(b.canExchange(), false); // exchange 2 waits for 4 steps
  assert.equal(b.canExchange(1), true);
  b.exchangeDone();
  assert.equal(b.canExchange(1), false);
  for (let k = 0; k < 4; k++) b.stepDone();
  assert.equal(b.canExchange(1), true);
  assert.equal(b.canStep(), true);
});

test('local clock: wall-clock time over a moving average (factor ½) of the step duration', () => {
  let wall = 0;
  const clock = new LocalClock(() => wall);
  wall = 10;
  assert.equal(clock.now(), 0); // no step measured yet: time stands still
  clock.stepTook(10);
  wall = 30;
  assert.equal(clock.now(), 2);
  clock.stepTook(30); // average ½·10 + ½·30 = 20
  wall = 70;
  assert.equal(clock.now(), 4);
  assert.equal(clock.stepMs, 20);
});

test('agents on a ring exchange about `rate` times per local step (2 and 0.5), training a tiny model', async () => {
  for (const rate of [2, 0.5]) {
    const h = agentHarness({ n: 4, topology: 'ring', algorithm: 'acid', rate, rateMode: 'poisson', seed: 5 });
    await h.run(100);
    const counts = h.agents.map((a) => ({ id: a.id, steps: a.steps, exchanges: a.exchanges, forgiven: a.forgiven }));
    await h.close();
    for (const a of counts) {
      const perStep = a.exchanges / a.steps;
      assert.ok(Math.abs(perStep - rate) < 0.35 * rate, `rate ${rate}, worker ${a.id}: ${a.exchanges} exchanges in ${a.steps} steps`);
    }
    assert.ok(counts.every((a) => a.forgiven <= 1), `exchanges given up: ${counts.map((a) => a.forgiven)}`);
    const total = counts.reduce((s, a) => s + a.exchanges, 0) / counts.reduce((s, a) => s + a.steps, 0);
    assert.ok(Math.abs(total - rate) < 0.15 * rate, `rate ${rate}: ${total} exchanges per step overall`);
  }
});

test('a slower worker takes part in more exchanges per step, so that its faster neighbours keep their rate', async () => {
  const h = agentHarness({ n: 4, topology: 'ring', algorithm: 'gossip', rate: 1, seed: 8, computeMs: (i) => (i === 0 ? 12 : 2) });
  await h.run(60);
  const counts = h.agents.map((a) => ({ steps: a.steps, exchanges: a.exchanges, forgiven: a.forgiven }));
  await h.close();
  const [slow, ...fast] = counts;
  assert.ok(fast.every((w) => w.steps > 1.5 * slow.steps), `steps ${counts.map((w) => w.steps)}`);
  assert.ok(slow.exchanges / slow.steps > 1.5, `the slow worker: ${slow.exchanges} exchanges in ${slow.steps} steps`);
  for (const w of fast) assert.ok(Math.abs(w.exchanges / w.steps - 1) < 0.35, `a fast worker: ${w.exchanges} exchanges in ${w.steps} steps`);
  assert.ok(counts.every((w) => w.forgiven <= 1));
});
