/**
 * The options of the DiLoCo family (and of the delayed updates) and the algorithms each applies to: one table for every command that takes them
 * (sim, train's clusters, peer), which refuse an option given with an algorithm it does not apply to.
 */
export const DILOCO_OPTION_SCOPE = {
  innerSteps: ['diloco', 'streaming-diloco', 'gossip-diloco', 'async-diloco'],
  outerLr: ['diloco', 'streaming-diloco', 'gossip-diloco', 'async-diloco'],
  outerMomentum: ['diloco', 'streaming-diloco', 'gossip-diloco', 'async-diloco'],
  outerOptimizer: ['diloco', 'streaming-diloco', 'gossip-diloco', 'async-diloco'],
  outerBraking: ['diloco'],
  dynamicH: ['async-diloco'],
  eager: ['diloco'],
  fragments: ['streaming-diloco'],
  overlap: ['streaming-diloco'],
  mix: ['streaming-diloco'],
  delayWarmup: ['dpu'],
} as const;

export type DilocoOptionKey = keyof typeof DILOCO_OPTION_SCOPE;

/** The algorithms an option applies to, in words: "diloco, streaming-diloco and gossip-diloco". */
export function scopeText(scope: readonly string[]): string {
  return scope.length > 1 ? `${scope.slice(0, -1).join(', ')} and ${scope[scope.length - 1]}` : scope[0];
}

/** The first option given (not undefined) that does not apply to `algorithm`, with the algorithms it applies to. */
export function misappliedOption(algorithm: string, given: Partial<Record<DilocoOptionKey, unknown>>): { key: DilocoOptionKey; scope: readonly string[] } | null {
  for (const key of Object.keys(DILOCO_OPTION_SCOPE) as DilocoOptionKey[]) {
    const scope: readonly string[] = DILOCO_OPTION_SCOPE[key];
    if (given[key] !== undefined && !scope.includes(algorithm)) return { key, scope };
  }
  return null;
}
