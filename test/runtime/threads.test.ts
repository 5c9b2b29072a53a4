import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { removeOrphanMirrors } from '../../src/runtime/threads.js';

test('mirrors of the source tree left by killed processes are removed; those of live processes are kept', () => {
  const cache = mkdtempSync(join(tmpdir(), 'gossamer-mirrors-'));
  try {
    // a process that has exited: its pid is free (or reused, in which case its mirror is kept, which is safe)
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(gone.stdout);
    const dead = join(cache, `threads-${deadPid}-abc123`);
    const live = join(cache, `threads-${process.pid}-def456`);
    const legacy = join(cache, 'threads-XyZ123');
    for (const d of [dead, live, legacy]) mkdirSync(join(d, 'runtime'), { recursive: true });
    removeOrphanMirrors(cache);
    assert.equal(existsSync(live), true, 'the mirror of this (live) process');
    assert.equal(existsSync(legacy), false, 'a mirror without a pid');
    let alive = true;
    try {
      process.kill(deadPid, 0);
    } catch {
      alive = false;
    }
    assert.equal(existsSync(dead), alive, 'the mirror of an exited process');
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
