import assert from 'node:assert/strict';
import { test } from 'node:test';
import { printable } from '../../src/cli/printable.js';

test('text for a terminal: control characters and bidirectional overrides escaped, the rest untouched', () => {
  assert.equal(printable('whale\tship\nsea'), 'whale\tship\nsea');
  assert.equal(printable('red \u001b[31mALERT\u001b[0m'), 'red \\u001b[31mALERT\\u001b[0m');
  assert.equal(printable('a\u0007b\u007fc\u009bd'), 'a\\u0007b\\u007fc\\u009bd');
  assert.equal(printable('file\u202etxt.exe'), 'file\\u202etxt.exe');
  assert.equal(printable('Ishmael — “Call me”'), 'Ishmael — “Call me”');
});
