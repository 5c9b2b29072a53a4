import { InvalidArgumentError } from 'commander';

/** Commander argument parsers that reject bad numbers with a message naming the problem. */
export function integer(min = -Infinity, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[-+]?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected an integer, got "${value}"`);
    if (n < min) throw new InvalidArgumentError(`must be at least ${min}, got ${n}`);
    if (n > max) throw new InvalidArgumentError(`must be at most ${max}, got ${n}`);
    return n;
  };
}

export function real(opts: { min?: number; max?: number; positive?: boolean } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
    if (opts.positive && n <= 0) throw new InvalidArgumentError(`must be positive, got ${n}`);
    if (opts.min !== undefined && n < opts.min) throw new InvalidArgumentError(`must be at least ${opts.min}, got ${n}`);
    if (opts.max !== undefined && n > opts.max) throw new InvalidArgumentError(`must be at most ${opts.max}, got ${n}`);
    return n;
  };
}

export function oneOf<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got "${value}"`);
    return value as T;
  };
}

/** A comma-separated list of positive numbers, e.g. "1,1,0.5". */
export function realList(value: string): number[] {
  const parts = value.split(',').map((s) => Number(s.trim()));
  if (parts.length === 0 || parts.some((x) => !Number.isFinite(x) || x <= 0)) {
    throw new InvalidArgumentError(`expected a comma-separated list of positive numbers, got "${value}"`);
  }
  return parts;
}

/** --model-config: extra model options as a JSON object. */
export function modelConfig(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError(`must be a JSON object, got ${JSON.stringify(value.slice(0, 60))}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError('must be a JSON object');
  return parsed as Record<string, unknown>;
}
