/**
 * The run config of an open-mode cluster: what the first peer announces is checked against its schema by everyone
 * who learns it, and a joiner's explicit flags must agree with it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { checkJoinerFlags, parseOpenConfig } from '../../src/cli/open-config.js';

const CONFIG = {
  v: 1, model: 'mlp', modelConfig: { hidden: [16] }, dataset: 'mnist', shard: 'full', seq: 64, limit: 256, evalLimit: 128, batchSize: 16,
  optimizer: 'sgd', lr: 0.05, momentum: 0.9, nesterov: false, weightDecay: 0, decayAll: false, braking: 0, schedule: 'constant', warmup: 0,
  clip: 1, seed: 1, steps: 1000, started: 1, deadline: null, algo: 'acid', topology: 'ring', rate: 1, codec: 'f32', finalExchanges: 10, timeout: 5000,
};

test('open config: a valid config parses; a hostile or malformed one is a one-line usage error', () => {
  assert.deepEqual(parseOpenConfig(CONFIG), CONFIG);
  const bad = (change: Record<string, unknown>, field: RegExp) => {
    assert.throws(() => parseOpenConfig({ ...CONFIG, ...change }), (e: unknown) => e instanceof UsageError && field.test(e.message) && !e.message.includes('\n'));
  };
  bad({ algo: 'allreduce' }, /algo/);
  bad({ topology: 'star' }, /topology/);
  bad({ lr: -1 }, /lr/);
  bad({ batchSize: 1e9 }, /batchSize/);
  bad({ modelConfig: { hidden: new Array(1000).fill(4096) } }, /modelConfig/);
  bad({ steps: 1.5 }, /steps/);
  bad({ extra: true }, /\(root\)|extra|Unrecognized/);
  assert.throws(() => parseOpenConfig('{}'), UsageError);
});

test('open config: a joiner\'s explicit flags must agree with the cluster\'s', () => {
  const config = parseOpenConfig(CONFIG);
  // Flags left out, or given with the cluster's values, or that are no part of the run: accepted.
  checkJoinerFlags(config, { lr: 0.05, steps: 1000, listen: ['/ip4/0.0.0.0/tcp/0'], clip: 1 }, ['lr', 'steps', 'listen', 'clip']);
  checkJoinerFlags(config, { lr: 0.2 }, []);
  assert.throws(() => checkJoinerFlags(config, { lr: 0.2 }, ['lr']), /the cluster trains with --lr 0\.05; this peer was given --lr 0\.2/);
  assert.throws(() => checkJoinerFlags(config, { algo: 'gossip' }, ['algo']), /--algo "acid"/);
  assert.throws(() => checkJoinerFlags(config, { modelConfig: { hidden: [32] } }, ['modelConfig']), /--model-config/);
  // --clip 0 is no clipping: the config's null.
  assert.throws(() => checkJoinerFlags(config, { clip: 0 }, ['clip']), /--clip 1/);
});
