/**
 * Errors that reach a user. A UsageError is bad input (a flag, a config, a file): the CLI prints its message as
 * one line on stderr and exits with code 2. Anything else is a bug and exits with code 1.
 */
export class UsageError extends Error {
  override name = 'UsageError';
  /**
   * The configuration field the input came from (e.g. 'innerSteps'), when there is one: the message speaks of it in
   * the library's terms, and a front end may name it its own way (the CLI names the flag).
   */
  readonly field?: string;

  constructor(message: string, options: { field?: string } = {}) {
    super(message);
    if (options.field !== undefined) this.field = options.field;
  }
}

/** Throws a UsageError unless the condition holds. */
export function require(condition: unknown, message: string): asserts condition {
  if (!condition) throw new UsageError(message);
}
