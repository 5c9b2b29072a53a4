/**
 * A peer's young generation kept at V8's initial size (a 1 MB semi-space) instead of growing to 16 MB: about 25 MB
 * of resident memory per `gossamer peer` process, at no cost measured in its speed (the bulk lane leaves little
 * short-lived garbage per exchange). Node reads `--max-semi-space-size` only as a process starts, and a shebang cannot
 * carry it portably; V8's growth factor can be set at run time, as long as it is before the young generation grows —
 * before the program's modules load — and again after each thread starts: V8 sets the factor back to at least 2 as it
 * configures a new isolate's heap. An operator's own `--max-semi-space-size` (argument or NODE_OPTIONS) wins.
 */
import v8 from 'node:v8';

const NO_GROWTH = '--semi-space-growth-factor=1';
/** How often the factor is set again (a thread started since may have reset it). */
const REAPPLY_MS = 100;

export function keepYoungGenerationSmall(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('semi-space'));
  if (given) return;
  v8.setFlagsFromString(NO_GROWTH);
  setInterval(() => v8.setFlagsFromString(NO_GROWTH), REAPPLY_MS).unref();
}
