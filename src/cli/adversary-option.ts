/** Parsers of --adversary: fault injection that makes workers send forged models (src/runtime/adversary.ts). */
import { InvalidArgumentError } from 'commander';
import { ADVERSARY_KINDS, type AdversaryKind } from '../runtime/adversary.js';

function kindOf(value: string, whole: string): AdversaryKind {
  const kind = value.trim();
  if (!(ADVERSARY_KINDS as readonly string[]).includes(kind)) {
    throw new InvalidArgumentError(`expected one of ${ADVERSARY_KINDS.join(', ')}, got "${whole}"`);
  }
  return kind as AdversaryKind;
}

/** `gossamer peer --adversary <kind>`. */
export function adversaryKind(value: string): AdversaryKind {
  return kindOf(value, value);
}

/** `gossamer train --adversary w:kind[,w:kind]`, repeatable: the adversaries by worker. */
export function adversaryList(value: string, previous?: Record<number, AdversaryKind>): Record<number, AdversaryKind> {
  const out = { ...previous };
  for (const part of value.split(',')) {
    const m = /^\s*(\d+)\s*:\s*([a-z-]+)\s*$/.exec(part);
    if (!m) throw new InvalidArgumentError(`expected worker:kind pairs, e.g. "3:huge" (kinds ${ADVERSARY_KINDS.join(', ')}), got "${value}"`);
    out[Number(m[1])] = kindOf(m[2], value);
  }
  return out;
}
