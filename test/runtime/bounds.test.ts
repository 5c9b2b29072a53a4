/** Bounds on neighbours' messages, peer scoring and forged messages: units, then agents exchanging for real. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adversaryList } from '../../src/cli/adversary-option.js';
import { boundsLines } from '../../src/cli/bounds-summary.js';
import type { WorkerSummary } from '../../src/runtime/cluster-config.js';
import { Rng } from '../../src/core/rng.js';
import { Adversary } from '../../src/runtime/adversary.js';
import { DEFAULT_BOUNDS, ExchangeBounds, relativeDistance } from '../../src/runtime/bounds.js';
import { ExchangeGuard } from '../../src/runtime/exchange-guard.js';
import { ParameterHealth } from '../../src/runtime/health.js';
import { choosePull } from '../../src/runtime/pull-bounds.js';
import { PeerScores } from '../../src/runtime/scoring.js';
import { agentHarness } from './harness.js';

const rng = new Rng(3);
const model = (n = 1000) => Float32Array.from({ length: n }, () => rng.normal());
/** x moved by a relative distance r in a random direction. */
function near(x: Float32Array, r: number): Float32Array {
  const d = model(x.length);
  const scale = r * Math.sqrt(x.reduce((a, v) => a + v * v, 0) / d.reduce((a, v) => a + v * v, 0));
  return x.map((v, k) => v + scale * d[k]);
}
const norm = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0));

describe('exchange bounds', () => {
  it('measure the relative distance, NaN for non-finite messages', () => {
    const x = model();
    assert.ok(Math.abs(relativeDistance(x, near(x, 0.1)) - 0.1) < 1e-4);
    assert.ok(Number.isNaN(relativeDistance(x, new Float32Array(x.length).fill(NaN))));
    assert.ok(Number.isNaN(relativeDistance(x, new Float32Array(x.length).fill(Infinity))));
  });

  it('refuse non-finite, huge, sign-flipped and random models from the first exchange; accept near ones', () => {
    const b = new ExchangeBounds();
    const x = model();
    const adversaries = (['huge', 'nan', 'sign-flip', 'random'] as const).map((kind) => {
      const out = new Float32Array(x.length);
      new Adversary(kind, rng).forge(x, out);
      return [kind, out] as const;
    });
    for (const [kind, forged] of adversaries) assert.notEqual(b.check(x, forged, 1, 0), null, kind);
    assert.equal(b.check(x, near(x, 0.5), 1, 0), null);
  });

  it('tighten to the recent distances after the warm-up, never below the floor, and ignore what they refused', () => {
    const b = new ExchangeBounds();
    const x = model();
    assert.equal(b.limit(), DEFAULT_BOUNDS.ceiling);
    for (let k = 0; k < 40; k++) assert.equal(b.check(x, near(x, 1e-3), k % 2, k), null);
    assert.equal(b.limit(), DEFAULT_BOUNDS.floor);
    assert.match(b.check(x, near(x, 0.2), 0, 50) ?? '', /over the bound 0.0500/);
    for (let k = 0; k < 40; k++) assert.equal(b.check(x, near(x, 0.01), k % 2, 60 + k), null);
    assert.ok(Math.abs(b.limit() - 16 * 0.01) < 1e-3, `limit ${b.limit()}`);
    assert.equal(b.check(x, near(x, 0.15), 0, 200), null);
  });

  it('bound a neighbour by what the others send: one that sends far models cannot raise its own bound', () => {
    const b = new ExchangeBounds();
    const x = model();
    for (let k = 0; k < 32; k++) {
      assert.equal(b.check(x, near(x, 1e-3), 1, k), null);
      assert.equal(b.check(x, near(x, 0.04), 2, k), null);
    }
    assert.equal(b.limit(2), DEFAULT_BOUNDS.floor, 'worker 2 is held to what worker 1 sends');
    assert.ok(b.limit(1) > 0.5, 'worker 1 is held to what worker 2 sends');
    assert.notEqual(b.check(x, near(x, 0.2), 2, 40), null);
  });

  it('hold a neighbour whose accepted distances are its own to the ceiling: the other one is refused every time', () => {
    const b = new ExchangeBounds();
    const x = model();
    for (let k = 0; k < 32; k++) {
      assert.equal(b.check(x, near(x, 1e-3), 3, k), null);
      assert.notEqual(b.check(x, near(x, 1e-3).map((v) => -v), 1, k), null, 'the sign-flipping one is refused');
    }
    assert.equal(b.limit(3), DEFAULT_BOUNDS.ceiling);
    assert.equal(b.check(x, near(x, 0.3), 3, 40), null, 'far after a long separation, and honest');
    assert.equal(b.limit(1), DEFAULT_BOUNDS.floor, 'the other is held to what worker 3 sends');
  });

  it('refuse a neighbour\'s model sent again after steps (a replay), not under the same step count', () => {
    const b = new ExchangeBounds();
    const x = model();
    const old = near(x, 0.1);
    assert.equal(b.check(x, old, 3, 5), null);
    assert.equal(b.check(x, old, 3, 5), null, 'no step since: what it has (its previous exchange was void)');
    assert.equal(b.check(x, old, 3, 7), 'the same model as its previous message');
    assert.equal(b.check(x, near(x, 0.1), 3, 8), null);
  });
});

describe('peer scores', () => {
  it('ban after three refusals in a row; an accepted message resets the streak', () => {
    const s = new PeerScores();
    assert.equal(s.record(1, 'far'), null);
    assert.equal(s.record(1, 'far'), null);
    assert.equal(s.record(1, null), null);
    assert.equal(s.record(1, 'far'), null);
    assert.equal(s.record(1, 'far'), null);
    assert.match(s.record(1, 'far') ?? '', /3 messages in a row refused, the last one: far/);
    assert.ok(s.isBanned(1) && !s.isBanned(2));
  });

  it('ban a peer with more than half of its last ten messages refused, even never three in a row', () => {
    const s = new PeerScores();
    const pattern = [true, true, false, true, true, false, true, true, false, true];
    const bans = pattern.map((refused) => s.record(4, refused ? 'far' : null));
    assert.deepEqual(bans.slice(0, 9), new Array(9).fill(null));
    assert.match(bans[9] ?? '', /7 of its last 10 messages refused/);
  });
});

describe('guard', () => {
  it('count refusals, score frames dropped by the wire alike, and report a ban once', () => {
    const bans: Array<[number, string]> = [];
    const g = new ExchangeGuard(0, { bounds: DEFAULT_BOUNDS, onBan: (peer, why) => bans.push([peer, why]) });
    const x = model();
    assert.equal(g.admit(2, x, new Float32Array(x.length).fill(1e30), 0), false);
    g.strike(2, 'non-finite: element 0 is NaN');
    g.strike(2, 'checksum: mismatch');
    g.strike(2, 'checksum: mismatch');
    assert.equal(g.rejected, 1);
    assert.deepEqual(bans, [[2, '3 messages in a row refused, the last one: checksum: mismatch']]);
    const open = new ExchangeGuard(0, { bounds: null });
    assert.equal(open.admit(2, x, new Float32Array(x.length).fill(NaN), 0), true, 'without bounds everything is admitted');
  });
});

describe('pull bounds', () => {
  const own = model();
  const trained = near(own, 0.8);
  const neighbour = near(trained, 0.01);
  const flipped = trained.map((v) => -v);

  it('take the answer the others agree with, refuse the forged one', () => {
    const c = choosePull(own, [{ from: 1, x: flipped }, { from: 2, x: trained }, { from: 3, x: neighbour }]);
    assert.ok(c.chosen && c.chosen.from !== 1);
    assert.deepEqual(c.refused.map((r) => r.from), [1]);
  });

  it('of two that disagree take the one nearer this worker; refuse huge answers outright', () => {
    assert.equal(choosePull(own, [{ from: 1, x: flipped }, { from: 2, x: trained }]).chosen?.from, 2);
    const c = choosePull(own, [{ from: 4, x: new Float32Array(own.length).fill(1e30) }]);
    assert.equal(c.chosen, null);
    assert.match(c.refused[0].reason, /its norm 3.16e\+31 is over/);
  });
});

describe('forged messages and --adversary', () => {
  it('forge each kind', () => {
    const x = model(100);
    const out = new Float32Array(100);
    const forge = (kind: ConstructorParameters<typeof Adversary>[0], a = new Adversary(kind, rng)) => (a.forge(x, out), out);
    assert.ok(forge('huge').every((v) => v === 1e30 || Math.abs(v / 1e30 - 1) < 1e-6));
    assert.ok(forge('nan').every(Number.isNaN));
    assert.ok(forge('sign-flip').every((v, k) => v === -x[k]));
    assert.ok(Math.abs(norm(forge('random')) / norm(x) - 1) < 0.3);
    const stale = new Adversary('stale', rng);
    const first = Float32Array.from(forge('stale', stale));
    x[0] += 1;
    assert.deepEqual(forge('stale', stale), first);
  });

  it('summarise refusals and bans per banned worker, and nothing when nothing was refused', () => {
    const w = (id: number, rejected: number, banned: WorkerSummary['banned']) => ({ id, rejected, banned }) as WorkerSummary;
    const ban = [{ worker: 3, reason: 'far' }];
    assert.deepEqual(boundsLines([w(2, 3, ban), w(3, 0, []), w(4, 4, ban)]), [
      'rejected         7 messages out of bounds (worker 2: 3, worker 4: 4)',
      'banned           worker 3 by workers 2, 4 (far)',
    ]);
    assert.deepEqual(boundsLines([w(0, 0, [])]), []);
  });

  it('parse worker:kind lists, repeated or comma-separated', () => {
    assert.deepEqual(adversaryList('3:huge, 5:sign-flip', adversaryList('1:nan')), { 1: 'nan', 3: 'huge', 5: 'sign-flip' });
    assert.throws(() => adversaryList('3:loud'), /expected one of huge, random, sign-flip, stale, nan/);
    assert.throws(() => adversaryList('huge'), /worker:kind/);
  });
});

describe('parameter health', () => {
  it('find non-finite or exploded parameters and keep the last good state', () => {
    const x = model(100);
    const health = new ParameterHealth(x, { keepEvery: 2 });
    const good = Float32Array.from(x);
    assert.equal(health.check(), null);
    x[0] += 0.5;
    assert.equal(health.check(), null);
    const kept = Float32Array.from(x);
    x[1] = 1e30;
    assert.match(health.check() ?? '', /its norm is 1.00e\+30/);
    x[1] = NaN;
    assert.match(health.check() ?? '', /its norm is NaN/);
    assert.deepEqual(health.lastGood, kept);
    assert.notDeepEqual(health.lastGood, good);
  });
});

describe('bounded exchanges between agents', () => {
  const honestNorms = (h: ReturnType<typeof agentHarness>, skip: number) => h.agents.filter((_, i) => i !== skip).map((a) => norm(a.x));

  it('refuse a neighbour sending huge values, ban it, and keep every honest model whole', async () => {
    const h = agentHarness({ n: 4, topology: 'ring', algorithm: 'acid', rate: 1, seed: 4, adversary: { 1: 'huge' } });
    // (the banned worker is answered busy and waits for its exchanges: the run ends on time, not on its steps)
    await h.run(60, 2000);
    await h.close();
    for (const i of [0, 2]) {
      assert.ok(h.agents[i].guard.rejected >= 3, `worker ${i} refused ${h.agents[i].guard.rejected}`);
      assert.match(h.agents[i].guard.banned.get(1) ?? '', /in a row refused/);
      assert.ok(!h.agents[i].pairing!.liveNeighbours().includes(1));
    }
    // Worker 3 has only honest neighbours: it bans nobody (a rare refusal of an honest message, whose distances are
    // heavy-tailed, is the bounds' known cost).
    assert.equal(h.agents[3].guard.banned.size, 0);
    assert.ok(h.agents[3].guard.rejected <= 1, `worker 3 refused ${h.agents[3].guard.rejected}`);
    for (const n of honestNorms(h, 1)) assert.ok(n < 100, `norm ${n}`);
  });

  it('without bounds, the workers it ruins find out, go back to their last good state and stop', async () => {
    const h = agentHarness({ n: 4, topology: 'ring', algorithm: 'acid', rate: 1, seed: 4, adversary: { 1: 'huge' }, bounds: false });
    await h.run(30, 2000);
    await h.close();
    const ruined = h.agents.filter((a) => a.ruined !== null);
    assert.ok(ruined.length > 0);
    for (const a of ruined) assert.match(a.ruined!, /^worker [023]: its parameters are ruined after an exchange with worker [0-3]: its norm is .* times that of its last good state/);
    for (const n of honestNorms(h, 1)) assert.ok(n < 100, `norm ${n}`);
  });

  it('refuse nothing among honest workers', async () => {
    const h = agentHarness({ n: 4, topology: 'ring', algorithm: 'acid', rate: 1, seed: 6 });
    await h.run(80);
    await h.close();
    assert.deepEqual(h.agents.map((a) => a.guard.rejected), [0, 0, 0, 0]);
  });
});
