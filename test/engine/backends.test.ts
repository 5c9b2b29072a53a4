import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/core/errors.js';
import { availableBackends, getBackend, jsBackend, nativeBackendStatus } from '../../src/engine/backends/index.js';

function withEnv<T>(value: string | undefined, f: () => T): T {
  const saved = process.env.GOSSAMER_BACKEND;
  if (value === undefined) delete process.env.GOSSAMER_BACKEND;
  else process.env.GOSSAMER_BACKEND = value;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.GOSSAMER_BACKEND;
    else process.env.GOSSAMER_BACKEND = saved;
  }
}

describe('backend selection', () => {
  const status = nativeBackendStatus();

  it('js is always available and listed first', () => {
    const all = availableBackends();
    assert.equal(all[0], jsBackend());
    assert.equal(all.length, status.available ? 2 : 1);
    assert.equal(getBackend('js').name, 'js');
    assert.equal(getBackend({ backend: 'js' }).isa, 'js');
  });

  it('automatic selection prefers native when it loads', () => {
    const b = withEnv(undefined, () => getBackend());
    assert.equal(b.name, status.available ? 'native' : 'js');
    if (!status.available) assert.ok(status.reason.length > 0, 'an unavailable native backend says why');
  });

  it('GOSSAMER_BACKEND overrides automatic selection; an explicit choice overrides the variable', () => {
    assert.equal(withEnv('js', () => getBackend()).name, 'js');
    assert.equal(withEnv('auto', () => getBackend('js')).name, 'js');
    if (status.available) assert.equal(withEnv('js', () => getBackend('native')).name, 'native');
    assert.throws(() => withEnv('gpu', () => getBackend()), (e: unknown) => e instanceof UsageError && /GOSSAMER_BACKEND/.test(e.message));
    assert.throws(() => getBackend('fast' as never), UsageError);
  });

  it('requesting native where it cannot load is a clear usage error', () => {
    if (status.available) {
      assert.equal(getBackend('native').name, 'native');
      assert.equal(withEnv('native', () => getBackend()).name, 'native');
    } else {
      assert.throws(() => getBackend('native'), (e: unknown) => e instanceof UsageError && /native engine backend .* unavailable/.test(e.message));
      assert.throws(() => withEnv('native', () => getBackend()), UsageError);
    }
  });
});
