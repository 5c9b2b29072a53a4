#!/usr/bin/env node
// Builds the native compute addon (build/Release/gossamer_native.node) with node-gyp.
// Never fails the install: on any problem it prints one warning line and exits 0, and the engine then uses its
// TypeScript backend. GOSSAMER_NO_NATIVE=1 skips the build. The full compiler output is kept in
// build/native-build.log.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const logPath = join(root, 'build', 'native-build.log');

function warn(message) {
  console.warn(`gossamer: ${message}; the TypeScript backend will be used`);
  process.exit(0);
}

if (process.env.GOSSAMER_NO_NATIVE === '1') warn('GOSSAMER_NO_NATIVE=1, native addon not built');

/** node-gyp: the one npm points to during install, else the one bundled with npm next to this node, else a local one. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const prefix = resolve(dirname(process.execPath), '..');
  candidates.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  return candidates.find((p) => existsSync(p));
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) warn('node-gyp not found, native addon not built');

const args = [nodeGyp, 'rebuild', '--release', '--jobs=2'];
// Offline machines: use the headers installed with node rather than downloading them.
if (!process.env.npm_config_nodedir) {
  const prefix = resolve(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
}

const started = Date.now();
const result = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
const seconds = ((Date.now() - started) / 1000).toFixed(1);
const log = `${result.stdout ?? ''}\n${result.stderr ?? ''}\n${result.error ? String(result.error) : ''}`;
try {
  mkdirSync(join(root, 'build'), { recursive: true });
  writeFileSync(logPath, log);
} catch {
  // the log is a convenience only
}
if (result.status !== 0) {
  warn(`native addon build failed after ${seconds}s (see build/native-build.log)`);
}
console.log(`gossamer: native addon built in ${seconds}s`);
