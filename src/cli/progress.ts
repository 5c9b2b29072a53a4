import cliProgress from 'cli-progress';

/** A progress bar on stderr, only when stderr is a terminal and the output is not machine-readable. */
export function progressBar(total: number, label: string, enabled: boolean): { update(value: number): void; stop(): void } {
  if (!enabled || !process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} | eta {eta_formatted}`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update: (value) => bar.update(Math.round(value)),
    stop: () => bar.stop(),
  };
}
