/**
 * Resident memory of a running process from /proc/<pid>/status (Linux): VmRSS (now), VmHWM (its peak so far) and
 * RssAnon (the part no other process shares: VmRSS also counts the pages of the node binary and its libraries it has
 * touched, ~45 MB that every Node process of the machine shares), in MB, sampled at a fixed interval until stopped.
 */
import { readFileSync } from 'node:fs';

export interface RssSample {
  /** ms since the sampler started. */
  t: number;
  rssMB: number;
  peakMB: number;
  anonMB: number;
}

/** VmRSS, VmHWM and RssAnon of a process in MB, or null once it has gone. */
export function readRss(pid: number): { rssMB: number; peakMB: number; anonMB: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMB: kb('VmRSS') / 1024, peakMB: kb('VmHWM') / 1024, anonMB: kb('RssAnon') / 1024 };
}

/** Samples a process every `everyMs` into `samples`; stop() ends the sampling and returns them. */
export function sampleRss(pid: number, everyMs = 100): { samples: RssSample[]; mark(): number; stop(): RssSample[] } {
  const samples: RssSample[] = [];
  const t0 = performance.now();
  /** Takes a sample; returns its time. */
  const take = (): number => {
    const t = performance.now() - t0;
    const r = readRss(pid);
    if (r) samples.push({ t, ...r });
    return t;
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    /** The time of now on the sampler's clock (to cut the samples into phases). */
    mark: () => take(),
    stop: () => {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** The median of the samples' RSS (or another figure) taken in [from, to] (ms; a mark's own sample included), MB. */
export function medianRss(samples: readonly RssSample[], from: number, to: number, field: 'rssMB' | 'anonMB' = 'rssMB'): number | null {
  const xs = samples.filter((s) => s.t >= from && s.t <= to).map((s) => s[field]).sort((a, b) => a - b);
  return xs.length ? xs[Math.floor(xs.length / 2)] : null;
}

/** Rounds a figure in MB to 0.1 MB. */
export const mb = (x: number | null | undefined): number | null => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);
