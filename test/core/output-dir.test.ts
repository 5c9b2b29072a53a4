import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { UsageError } from '../../src/core/errors.js';
import { prepareOutputDir, writeOrFallback } from '../../src/core/output-dir.js';

const dir = mkdtempSync(join(tmpdir(), 'gossamer-outdir-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function oneLine(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof UsageError, String(err));
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'));
    return true;
  };
}

test('prepareOutputDir makes missing levels, leaves nothing behind, and accepts an existing directory', () => {
  const deep = join(dir, 'a', 'b', 'c');
  assert.equal(prepareOutputDir(deep, '--out'), deep);
  assert.ok(statSync(deep).isDirectory());
  assert.deepEqual(readdirSync(deep), [], 'the probe file is removed');
  assert.equal(prepareOutputDir(deep, '--out'), deep);
});

test('a path that is a file, or under a file, is refused with one line', () => {
  const file = join(dir, 'plain-file');
  writeFileSync(file, 'x');
  assert.throws(() => prepareOutputDir(file, '--out'), oneLine(/^--out .*plain-file: exists and is not a directory$/));
  assert.throws(() => prepareOutputDir(join(file, 'sub', 'dir'), '--out'), oneLine(/^--out .*plain-file\/sub\/dir: .*plain-file is not a directory$/));
  assert.equal(readFileSync(file, 'utf8'), 'x');
});

test('a pseudo file system (/proc) is refused at once, where a recursive mkdir would retry forever', { skip: !existsSync('/proc/self') }, () => {
  assert.throws(() => prepareOutputDir('/proc/gossamer-test/run', '--out'), oneLine(/^--out \/proc\/gossamer-test\/run: cannot create directory \/proc\/gossamer-test \(/));
  // An existing directory where no file can be created.
  assert.throws(() => prepareOutputDir('/proc', '--out'), oneLine(/^--out \/proc: cannot write in this directory \(/));
});

test('writeOrFallback writes where asked, or to a temporary directory it names when that fails', () => {
  const write = (file: string) => writeFileSync(file, 'state');
  const wanted = join(dir, 'out', 'checkpoint.safetensors');
  assert.equal(writeOrFallback(wanted, 'checkpoint', write), wanted);
  assert.equal(readFileSync(wanted, 'utf8'), 'state');

  const blocked = join(dir, 'blocked');
  writeFileSync(blocked, 'not a directory');
  const lines: string[] = [];
  const original = process.stderr.write;
  process.stderr.write = ((chunk: string) => lines.push(chunk) > 0) as typeof process.stderr.write;
  let written: string;
  try {
    written = writeOrFallback(join(blocked, 'checkpoint.safetensors'), 'checkpoint', write);
  } finally {
    process.stderr.write = original;
  }
  assert.equal(dirname(dirname(written)), tmpdir());
  assert.equal(readFileSync(written, 'utf8'), 'state');
  assert.equal(lines.length, 1);
  assert.ok(lines[0].startsWith(`gossamer: cannot write the checkpoint to ${join(blocked, 'checkpoint.safetensors')} (`), lines[0]);
  assert.ok(lines[0].endsWith(`it is in ${written} instead\n`), lines[0]);
  rmSync(dirname(written), { recursive: true });
  // Nothing can be written anywhere: the first error.
  assert.throws(() => writeOrFallback(join(blocked, 'c'), 'checkpoint', () => {
    throw new UsageError('disk full');
  }), oneLine(/^directory .*blocked: exists and is not a directory$/));
});
