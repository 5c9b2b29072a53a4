/**
 * The layout's rules, checked on the sources: no import cycle in src/, and dependencies flowing one way —
 * algorithms never import the simulator, the runtime or the command line, a run's configuration (config/) sits
 * below the algorithms, and only the command line imports the command line.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = resolve('src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import and re-export of every source file, type-only ones included, static and dynamic. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(/(?:^(?:import|export)\s[^;]*?from\s+|import\()\s*'(\.[^']+)'/gm)) {
      deps.push(resolve(dirname(file), m[1].replace(/\.js$/, '.ts')));
    }
    graph.set(file, deps);
  }
  return graph;
}

const rel = (p: string) => relative(SRC, p);

test('no import cycle in src/', () => {
  const graph = importGraph();
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (u: string): void => {
    state.set(u, 'open');
    path.push(u);
    for (const v of graph.get(u) ?? []) {
      if (!graph.has(v)) continue;
      if (state.get(v) === 'open') cycles.push([...path.slice(path.indexOf(v)), v].map(rel).join(' → '));
      else if (!state.has(v)) visit(v);
    }
    path.pop();
    state.set(u, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  assert.deepEqual(cycles, []);
});

test('dependencies flow one way: algorithms know neither clock, and only the command line imports the command line', () => {
  const wrong: string[] = [];
  for (const [file, deps] of importGraph()) {
    const from = rel(file).split('/')[0];
    for (const dep of deps) {
      const to = rel(dep).split('/')[0];
      if (from === 'algorithms' && ['sim', 'runtime', 'cli'].includes(to)) wrong.push(`${rel(file)} imports ${rel(dep)}`);
      if (from !== 'cli' && to === 'cli') wrong.push(`${rel(file)} imports ${rel(dep)}`);
      if (from === 'sim' && to === 'runtime') wrong.push(`${rel(file)} imports ${rel(dep)}`);
      if (from === 'config' && ['algorithms', 'sim', 'runtime', 'cli'].includes(to)) wrong.push(`${rel(file)} imports ${rel(dep)}`);
    }
  }
  assert.deepEqual(wrong, []);
});
