/**
 * Engine benchmark: milliseconds per training step, one thread, for the three workloads of REFERENCE-NUMBERS.md
 * (forward + softmax cross-entropy + backward + optimizer update; median of timed steps after warm-up):
 *   mlp          784-512-512-10, batch 128, SGD with momentum
 *   cnn          conv3x3(1→32)+relu+pool, conv3x3(32→64)+relu+pool, dense 1600→128→10, batch 128 of 1×28×28, SGD
 *   transformer  2 pre-LayerNorm layers, d_model 128, 4 heads, seq 64, vocab 256, batch 32, AdamW
 * on the native backend (the TypeScript backend when the addon is unavailable, said in `backend`), plus the
 * TypeScript backend's MLP step (`jsMlp`) and the kernel figures of bench/engine-kernels.ts (`kernels`).
 *
 * When a Python with PyTorch is found (GOSSAMER_TORCH_PYTHON, else /tmp/torchenv/bin/python, else python3), the
 * same workloads run in PyTorch with one thread (bench/torch_engine.py), interleaved with ours workload by workload
 * so that both see the same machine load: `torch` holds its times and `ratio` = ours / torch (below 1: faster).
 * Without PyTorch those fields are absent and `torchUnavailable` says why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/engine/backend.js';
import { getBackend, jsBackend, nativeBackendStatus } from '../src/engine/backends/index.js';
import { createModel, type ModelName } from '../src/engine/models/index.js';
import { AdamW, Sgd } from '../src/engine/optim/index.js';
import { Rng } from '../src/core/rng.js';

type Workload = 'mlp' | 'cnn' | 'transformer';
const WORKLOADS: Workload[] = ['mlp', 'cnn', 'transformer'];
const BATCH: Record<Workload, number> = { mlp: 128, cnn: 128, transformer: 32 };
const TIMED: Record<Workload, number> = { mlp: 30, cnn: 10, transformer: 10 };
const WARMUP = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median milliseconds of one training step of a workload (the reference shapes are the models' defaults). */
export function stepTime(workload: Workload, backend: Backend, timed = TIMED[workload], warmup = WARMUP): number {
  const model = createModel(workload as ModelName, { backend, seed: 1 });
  const batch = BATCH[workload];
  const rng = new Rng(`bench:${workload}`);
  const inputs = model.inputKind === 'i32'
    ? Int32Array.from({ length: batch * model.inputSize }, () => rng.int(model.classes))
    : Float32Array.from({ length: batch * model.inputSize }, () => rng.normal());
  const targets = Int32Array.from({ length: batch * model.targetsPerSample }, () => rng.int(model.classes));
  const opt = workload === 'transformer' ? new AdamW(model, { lr: 1e-3 }) : new Sgd(model, { lr: 0.01, momentum: 0.9 });
  const step = () => {
    model.lossAndGradient(inputs, targets);
    opt.step();
  };
  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  for (let i = 0; i < timed; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  return median(times);
}

const here = dirname(fileURLToPath(import.meta.url));

/** A Python that imports torch, or the reason there is none. */
function findTorch(): { python: string; version: string } | { reason: string } {
  const candidates = [process.env.GOSSAMER_TORCH_PYTHON, '/tmp/torchenv/bin/python', 'python3'].filter(
    (p): p is string => p !== undefined && p !== '' && (!p.startsWith('/') || existsSync(p)),
  );
  const reasons: string[] = [];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0) return { python, version: r.stdout.trim() };
    reasons.push(`${python}: ${r.error ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`)}`);
  }
  return { reason: `no Python with PyTorch (${reasons.join('; ')})` };
}

function torchStep(python: string, workload: Workload): number | string {
  const args = [join(here, 'torch_engine.py'), '--only', workload, '--warmup', String(WARMUP), `--steps-${workload}`, String(TIMED[workload])];
  const r = spawnSync(python, args, { encoding: 'utf8', timeout: 600_000, env: { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' } });
  if (r.status !== 0) return `torch_engine.py failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  return typeof out[workload] === 'number' ? out[workload] : 'torch_engine.py printed no time';
}

async function kernelFigures(): Promise<unknown> {
  try {
    // Resolved at run time: the kernel benchmark is a separate module of this directory.
    const specifier = './engine-kernels.js';
    const mod = (await import(specifier)) as { runKernelBench?: () => Promise<unknown> | unknown };
    if (typeof mod.runKernelBench !== 'function') return { error: 'bench/engine-kernels.ts exports no runKernelBench()' };
    return await mod.runKernelBench();
  } catch (err) {
    return { error: `kernel benchmark unavailable (${err instanceof Error ? err.message.split('\n')[0] : String(err)})` };
  }
}

const round = (x: number, digits = 3) => Number(x.toPrecision(digits + 1));

export async function runEngineBench(): Promise<Record<string, unknown>> {
  const status = nativeBackendStatus();
  const backend = status.available ? getBackend({ backend: 'native' }) : jsBackend();
  const torch = findTorch();
  const result: Record<string, unknown> = {
    unit: 'ms per training step (median)', threads: 1, backend: backend.name, isa: backend.isa,
    ...(status.available ? {} : { nativeUnavailable: status.reason }),
    batch: BATCH,
  };
  const torchTimes: Record<string, number | string> = {};
  const ratio: Record<string, number> = {};
  for (const w of WORKLOADS) {
    const ours = stepTime(w, backend);
    result[w] = round(ours);
    if ('python' in torch) {
      const t = torchStep(torch.python, w);
      torchTimes[w] = typeof t === 'number' ? round(t) : t;
      if (typeof t === 'number') ratio[w] = round(ours / t);
    }
  }
  result.jsMlp = round(stepTime('mlp', jsBackend(), 3, 1));
  if ('python' in torch) {
    result.torch = { version: torch.version, python: torch.python, ...torchTimes };
    result.ratio = ratio;
  } else {
    result.torchUnavailable = torch.reason;
  }
  result.kernels = await kernelFigures();
  return result;
}
