/**
 * Kernel benchmark of the engine's compute backends:
 * - SGEMM throughput (GFLOP/s) on the shapes of an MLP 784-512-512-10 at batch 128 — forward X·Wᵀ, weight
 *   gradient dYᵀ·X and input gradient dY·W of each layer — for every instruction set of the native addon this CPU
 *   runs, and for the TypeScript backend on one shape;
 * - memory bandwidth of the averaging kernel a ← ½(a + b) and of axpy on 10M floats, against TypedArray.set
 *   (memcpy) measured in the same run.
 * Times are the best of repeated runs (the machines are shared and noisy: compare ratios within one run).
 *
 * Usage: npx tsx bench/engine-kernels.ts [--quick]   (prints one JSON object)
 * Imported by the benchmark driver as runKernelBench().
 */
import { cpus } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { Backend } from '../src/engine/backend.js';
import { jsBackend } from '../src/engine/backends/js/index.js';
import { loadNativeBackend, nativeIsas, nativeLoadError } from '../src/engine/backends/native/index.js';

export interface KernelBenchOptions {
  /** Shorter measurements (for smoke runs). */
  quick?: boolean;
}

interface Shape {
  name: string;
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
}

/**
 * The matrix products of one training step of an MLP 784-512-512-10 at batch 128, as the engine's Linear layer
 * issues them (weights stored out × in, as in PyTorch): forward Y = X·Wᵀ, weight gradient dW = dYᵀ·X, input
 * gradient dX = dY·W.
 */
export const MLP_SHAPES: Shape[] = [
  ['fc1.forward', false, true, 128, 512, 784],
  ['fc1.dW', true, false, 512, 784, 128],
  ['fc1.dX', false, false, 128, 784, 512],
  ['fc2.forward', false, true, 128, 512, 512],
  ['fc2.dW', true, false, 512, 512, 128],
  ['fc2.dX', false, false, 128, 512, 512],
  ['fc3.forward', false, true, 128, 10, 512],
  ['fc3.dW', true, false, 10, 512, 128],
  ['fc3.dX', false, false, 128, 512, 10],
].map(([name, transA, transB, m, n, k]) => ({ name, transA, transB, m, n, k }) as Shape);

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

/** Best time (ms) of `fn` over repetitions filling about `budgetMs`, each repetition timing `inner` calls. */
function bestTime(fn: () => void, budgetMs: number, inner = 1): number {
  fn();
  let best = Infinity;
  const start = performance.now();
  let reps = 0;
  while (reps < 3 || (performance.now() - start < budgetMs && reps < 10_000)) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) fn();
    best = Math.min(best, (performance.now() - t0) / inner);
    reps++;
  }
  return best;
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function sgemmRates(backend: Backend, shapes: Shape[], budgetMs: number): Record<string, number> {
  const out: Record<string, number> = {};
  let flops = 0;
  let time = 0;
  for (const s of shapes) {
    const a = random(s.m * s.k, 1);
    const b = random(s.k * s.n, 2);
    const c = new Float32Array(s.m * s.n);
    const lda = s.transA ? s.m : s.k;
    const ldb = s.transB ? s.k : s.n;
    const f = 2 * s.m * s.n * s.k;
    // Batch tiny products so that a repetition lasts long enough to time.
    const inner = Math.max(1, Math.round(2e7 / f));
    const ms = bestTime(() => backend.sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n), budgetMs, inner);
    out[s.name] = round(f / ms / 1e6);
    flops += f;
    time += ms;
  }
  if (shapes.length > 1) out.all = round(flops / time / 1e6);
  return out;
}

export async function runKernelBench(options: KernelBenchOptions = {}): Promise<Record<string, unknown>> {
  const quick = options.quick ?? false;
  const gemmBudget = quick ? 40 : 400;
  const bwBudget = quick ? 100 : 800;
  const isas = nativeIsas();
  const result: Record<string, unknown> = {
    cpu: cpus()[0]?.model ?? 'unknown',
    native: isas.length > 0,
    isas,
    timing: 'best of repeated runs',
  };
  if (isas.length === 0) result.nativeUnavailable = nativeLoadError();

  // SGEMM
  const sgemm: Record<string, unknown> = {
    unit: 'GFLOP/s',
    shapes: Object.fromEntries(MLP_SHAPES.map((s) => [s.name, `${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'} ${s.m}x${s.n}x${s.k}`])),
  };
  for (const isa of isas) {
    const backend = loadNativeBackend(isa);
    if (backend) sgemm[isa] = sgemmRates(backend, MLP_SHAPES, gemmBudget);
  }
  sgemm.js = sgemmRates(jsBackend(), MLP_SHAPES.filter((s) => s.name === 'fc2.forward'), gemmBudget);
  result.sgemm = sgemm;

  // Bandwidth on 10M floats
  const n = 10_000_000;
  const a = random(n, 3);
  const b = random(n, 4);
  const dst = new Float32Array(n);
  const gbs = (bytes: number, ms: number) => bytes / ms / 1e6;
  const setMs = bestTime(() => dst.set(a), bwBudget);
  const setGBs = gbs(8 * n, setMs);
  const bandwidth: Record<string, unknown> = {
    floats: n,
    note: 'GB/s counts bytes read plus bytes written: 8 per element for set, 12 for average and axpy',
    typedArraySet: { ms: round(setMs, 2), GBs: round(setGBs) },
  };
  for (const isa of isas) {
    const backend = loadNativeBackend(isa);
    if (!backend) continue;
    const avgMs = bestTime(() => backend.average(a, b), bwBudget);
    const axpyMs = bestTime(() => backend.axpy(1e-3, b, a), bwBudget);
    bandwidth[isa] = {
      average: { ms: round(avgMs, 2), GBs: round(gbs(12 * n, avgMs)), ofSet: round(gbs(12 * n, avgMs) / setGBs, 2) },
      axpy: { ms: round(axpyMs, 2), GBs: round(gbs(12 * n, axpyMs)), ofSet: round(gbs(12 * n, axpyMs) / setGBs, 2) },
    };
  }
  const js = jsBackend();
  const jsAvgMs = bestTime(() => js.average(a, b), bwBudget);
  bandwidth.js = { average: { ms: round(jsAvgMs, 2), GBs: round(gbs(12 * n, jsAvgMs)), ofSet: round(gbs(12 * n, jsAvgMs) / setGBs, 2) } };
  result.bandwidth = bandwidth;
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runKernelBench({ quick: process.argv.includes('--quick') });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
