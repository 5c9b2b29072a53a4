/**
 * Engine benchmark: milliseconds per training step, one thread, for the three reference workloads (README, Engine performance)
 * (forward + softmax cross-entropy + backward + optimizer update; median of timed steps after warm-up):
 *   mlp          784-512-512-10, batch 128, SGD with momentum
 *   cnn          conv3x3(1→32)+relu+pool, conv3x3(32→64)+relu+pool, dense 1600→128→10, batch 128 of 1×28×28, SGD
 *   transformer  2 pre-LayerNorm layers, d_model 128, 4 heads, seq 64, vocab 256, batch 32, AdamW
 * on the native backend (the TypeScript backend when the addon is unavailable, said in `backend`), plus the
 * TypeScript backend's MLP step (`jsMlp`) and the kernel figures of bench/engine-kernels.ts (`kernels`).
 *
 * When a Python with PyTorch is found (GOSSAMER_TORCH_PYTHON, else /tmp/torchenv/bin/python, else python3;
 * GOSSAMER_TORCH_PYTHON=none skips it), the same workloads run in PyTorch with one thread (bench/torch_engine.py
 * --serve, one process), interleaved with ours round by round so that both see the same machine load: `torch` holds
 * its times and `ratio` = ours / torch (below 1: faster). Without PyTorch those fields are absent and
 * `torchUnavailable` says why.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/engine/backend.js';
import { getBackend, jsBackend, nativeBackendStatus } from '../src/engine/backends/index.js';
import { createModel, type ModelName } from '../src/engine/models/index.js';
import { AdamW, Sgd } from '../src/engine/optim/index.js';
import { Rng } from '../src/core/rng.js';
import { runKernelBench } from './engine-kernels.js';

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
  const chosen = process.env.GOSSAMER_TORCH_PYTHON;
  if (chosen === 'none') return { reason: 'GOSSAMER_TORCH_PYTHON=none' };
  const candidates = (chosen ? [chosen] : ['/tmp/torchenv/bin/python', 'python3']).filter((p) => !p.startsWith('/') || existsSync(p));
  const reasons: string[] = [];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0) return { python, version: r.stdout.trim() };
    reasons.push(`${python}: ${r.error ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`)}`);
  }
  return { reason: `no Python with PyTorch (${reasons.join('; ')})` };
}

/** A PyTorch process serving step timings (torch_engine.py --serve): one request at a time. */
class TorchServer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private stderr = '';

  constructor(python: string) {
    this.child = spawn(python, [join(here, 'torch_engine.py'), '--serve'], {
      env: { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    });
    this.child.stderr.on('data', (d) => (this.stderr += d));
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  private async reply(): Promise<Record<string, unknown>> {
    const next = await this.lines.next();
    if (next.done) throw new Error(`torch_engine.py exited: ${this.stderr.trim().split('\n').pop() ?? ''}`);
    return JSON.parse(next.value) as Record<string, unknown>;
  }

  /** Waits for the server's greeting: {torch, threads}. */
  ready(): Promise<Record<string, unknown>> {
    return this.reply();
  }

  async time(workload: Workload, steps: number, warmup: number): Promise<number> {
    this.child.stdin.write(`${workload} ${steps} ${warmup}\n`);
    const out = await this.reply();
    if (typeof out[workload] !== 'number') throw new Error(`torch_engine.py answered ${JSON.stringify(out)}`);
    return out[workload];
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

async function kernelFigures(): Promise<unknown> {
  try {
    return await runKernelBench();
  } catch (err) {
    return { error: `kernel benchmark failed (${err instanceof Error ? err.message.split('\n')[0] : String(err)})` };
  }
}

const round = (x: number, digits = 3) => Number(x.toPrecision(digits + 1));

/**
 * Runs the benchmark. Each workload is measured in `rounds` rounds, ours then PyTorch's in each round, and each side
 * keeps its best round (the least disturbed by other load on a shared machine).
 */
export async function runEngineBench(options: { rounds?: number } = {}): Promise<Record<string, unknown>> {
  const rounds = Math.max(1, options.rounds ?? 3);
  const status = nativeBackendStatus();
  const backend = status.available ? getBackend({ backend: 'native' }) : jsBackend();
  const torch = findTorch();
  const result: Record<string, unknown> = {
    unit: 'ms per training step (best of rounds of the median step)', threads: 1, rounds, backend: backend.name, isa: backend.isa,
    ...(status.available ? {} : { nativeUnavailable: status.reason }),
    batch: BATCH,
  };
  let server: TorchServer | null = null;
  let torchInfo: Record<string, unknown> = {};
  let torchError = 'reason' in torch ? torch.reason : '';
  if ('python' in torch) {
    server = new TorchServer(torch.python);
    try {
      torchInfo = { version: torch.version, python: torch.python, threads: (await server.ready()).threads };
    } catch (err) {
      torchError = err instanceof Error ? err.message : String(err);
      server.close();
      server = null;
    }
  }
  const torchTimes: Record<string, number> = {};
  const ratio: Record<string, number> = {};
  try {
    for (const w of WORKLOADS) {
      let ours = Infinity;
      let theirs = Infinity;
      for (let r = 0; r < rounds; r++) {
        ours = Math.min(ours, stepTime(w, backend));
        if (server) {
          try {
            theirs = Math.min(theirs, await server.time(w, TIMED[w], WARMUP));
          } catch (err) {
            torchError = err instanceof Error ? err.message : String(err);
            server.close();
            server = null;
          }
        }
      }
      result[w] = round(ours);
      if (Number.isFinite(theirs)) {
        torchTimes[w] = round(theirs);
        ratio[w] = round(ours / theirs);
      }
    }
  } finally {
    server?.close();
  }
  result.jsMlp = round(stepTime('mlp', jsBackend(), 3, 1));
  if (Object.keys(torchTimes).length > 0) {
    result.torch = { ...torchInfo, ...torchTimes };
    result.ratio = ratio;
  }
  if (torchError !== '') result.torchUnavailable = torchError;
  result.kernels = await kernelFigures();
  return result;
}
