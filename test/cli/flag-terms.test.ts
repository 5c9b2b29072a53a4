/** The runtime's errors restated with the command line's flags. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { inFlagTerms, namingFlags } from '../../src/cli/options.js';
import { checkClusterConfig, type ClusterConfig } from '../../src/runtime/cluster-config.js';

const message = (err: unknown) => (err as Error).message;

test('a field named at the start becomes its flag; otherwise the flag comes first; other errors pass unchanged', () => {
  assert.equal(message(inFlagTerms(new UsageError('innerSteps applies to the diloco algorithm, not to acid', { field: 'innerSteps' }))), '--inner-steps applies to the diloco algorithm, not to acid');
  assert.equal(message(inFlagTerms(new UsageError('algorithm must be one of acid, gossip, got sgd', { field: 'algorithm' }), { algorithm: 'algo' })), '--algo must be one of acid, gossip, got sgd');
  assert.equal(message(inFlagTerms(new UsageError('slow-down factors are at least 1, got 0.5 for worker 2', { field: 'slowdown' }), { slowdown: 'slow' })), '--slow: slow-down factors are at least 1, got 0.5 for worker 2');
  // a word that merely begins with the field's name is not the field
  assert.equal(message(inFlagTerms(new UsageError('rates differ', { field: 'rate' }))), '--rate: rates differ');
  const plain = new UsageError('checkpoint x: not found');
  assert.equal(inFlagTerms(plain), plain);
  const bug = new TypeError('workers is undefined');
  assert.equal(inFlagTerms(bug), bug);
});

test('a command action restates what the runtime refuses', async () => {
  const config = { workers: 4, topology: 'ring', algorithm: 'acid', rate: 1, steps: 10, kill: [{ worker: 9, atStep: 5 }] } as ClusterConfig;
  assert.throws(() => checkClusterConfig(config), (e: Error) => e instanceof UsageError && e.message === 'kill names worker 9, outside 0…3' && e.field === 'kill');
  await assert.rejects(namingFlags(() => checkClusterConfig(config))(), (e: Error) => e instanceof UsageError && e.message === '--kill names worker 9, outside 0…3');
  await assert.rejects(namingFlags(() => checkClusterConfig({ ...config, kill: [], timeoutMs: 1, algorithm: 'sgd' as never }), { algorithm: 'algo' })(), /^UsageError: --algo must be one of/);
});
