/**
 * The Node versions the package says it supports (package.json "engines") are the ones its dependencies accept: for
 * every installed package that states a range, the lowest supported version (and this Node, which CI runs) is in it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

type Version = [number, number, number];

function parse(v: string): Version {
  const m = /^v?(\d+)(?:\.(\d+|\*|x))?(?:\.(\d+|\*|x))?$/.exec(v.trim());
  if (!m) throw new Error(`cannot read version ${JSON.stringify(v)}`);
  const part = (s: string | undefined) => (s === undefined || s === '*' || s === 'x' ? 0 : Number(s));
  return [Number(m[1]), part(m[2]), part(m[3])];
}

const compare = (a: Version, b: Version): number => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** Whether v satisfies a range of the forms npm packages use here: >=, >, <, <=, ^, x.*, exact, joined by spaces and ||. */
function satisfies(v: Version, range: string): boolean {
  return range.split('||').some((alternative) => alternative.trim().split(/\s+(?![\d^])/).every((raw) => {
    const c = raw.replace(/\s+/g, '');
    const m = /^(>=|<=|>|<|\^|~|=)?(.+)$/.exec(c)!;
    const op = m[1] ?? '';
    const w = parse(m[2]);
    const d = compare(v, w);
    switch (op) {
      case '>=': return d >= 0;
      case '>': return d > 0;
      case '<=': return d <= 0;
      case '<': return d < 0;
      case '^': return d >= 0 && v[0] === w[0];
      case '~': return d >= 0 && v[0] === w[0] && v[1] === w[1];
      default: return m[2].includes('*') || m[2].includes('x') || m[2].split('.').length < 3 ? v[0] === w[0] : d === 0;
    }
  }));
}

test('every installed package accepts the lowest supported Node version and this one', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
  const lowest = parse(/^>=\s*(\S+)$/.exec(pkg.engines.node)![1]);
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { engines?: { node?: string } | string[] }> };
  const refused: string[] = [];
  for (const [name, p] of Object.entries(lock.packages)) {
    const range = !Array.isArray(p.engines) ? p.engines?.node : undefined;
    if (!name || !range) continue;
    for (const v of [lowest, parse(process.version)]) if (!satisfies(v, range)) refused.push(`${name} wants node ${range}, not ${v.join('.')}`);
  }
  assert.deepEqual(refused, []);
});

test('the range reader', () => {
  assert.ok(satisfies([20, 19, 0], '^20.19.0 || ^22.12.0 || >=23'));
  assert.ok(!satisfies([20, 15, 0], '^20.19.0 || ^22.12.0 || >=23'));
  assert.ok(!satisfies([20, 20, 2], '>=22'));
  assert.ok(satisfies([20, 20, 2], '>= 20.19.0'));
  assert.ok(satisfies([20, 20, 2], '6.* || 8.* || >= 10.*'));
  assert.ok(!satisfies([20, 20, 2], '^8.16.0 || ^10.6.0'));
});
