/**
 * The README's "Use it from TypeScript" example, as a user runs it: in a project of its own that depends on the
 * package by its name, type-checked against the declarations the build emits, then run. (The package is used as
 * built: `npm ci` builds it; after changing src/, `npm run build` before this test.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';

const root = resolve('.');
const project = mkdtempSync(join(tmpdir(), 'gossamer-user-'));
after(() => rmSync(project, { recursive: true, force: true }));

/** The first ```ts block after the README's "Use it from TypeScript" heading. */
function example(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const at = readme.indexOf('### Use it from TypeScript');
  assert.ok(at >= 0, 'the README has a "Use it from TypeScript" section');
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, 'with a TypeScript example');
  return block[1];
}

test('the README\'s TypeScript example type-checks against the package\'s declarations and runs', () => {
  assert.ok(existsSync(join(root, 'dist', 'index.js')) && existsSync(join(root, 'dist', 'index.d.ts')), 'the package is built (npm run build)');
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(root, join(project, 'node_modules', 'gossamer'), 'dir');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', dependencies: { gossamer: '*' } }));
  writeFileSync(join(project, 'example.ts'), example());
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] },
    files: ['example.ts'],
  }));
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { encoding: 'utf8' });
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  const run = spawnSync(process.execPath, ['--import', join(root, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs'), 'example.ts'], { cwd: project, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const consensus = (name: string) => Number(new RegExp(`^${name}: consensus (\\S+),`, 'm').exec(run.stdout)?.[1]);
  assert.ok(consensus('acid') < consensus('gossip'), `A2CiD2 below gossip on a ring:\n${run.stdout}`);
  const cluster = /^cluster: test accuracy (\S+), (\d+) exchanges, (\d+) bytes sent$/m.exec(run.stdout);
  assert.ok(cluster && Number(cluster[1]) > 0.5 && Number(cluster[2]) > 0 && Number(cluster[3]) > 0, run.stdout);
});
