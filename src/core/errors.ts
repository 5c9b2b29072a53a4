/**
 * Errors that reach a user. A UsageError is bad input (a flag, a config, a file): the CLI prints its message as
 * one line on stderr and exits with code 2. Anything else is a bug and exits with code 1.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Throws a UsageError unless the condition holds. */
export function require(condition: unknown, message: string): asserts condition {
  if (!condition) throw new UsageError(message);
}
