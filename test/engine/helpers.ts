/** Shared helpers of the engine tests: backends to run against, random data, finite-difference checks. */
import { Rng } from '../../src/core/rng.js';
import type { Backend } from '../../src/engine/backend.js';
import { availableBackends, nativeBackendStatus } from '../../src/engine/backends/index.js';
import { Registry } from '../../src/engine/layout.js';

/** Every backend the engine tests run against: js always, native when the addon loads. */
export const BACKENDS: Backend[] = availableBackends();

let noted = false;
/** Prints once why the native half of the suite is skipped. */
export function noteNativeSkip(): void {
  if (noted) return;
  noted = true;
  const status = nativeBackendStatus();
  if (!status.available) console.log(`# native backend unavailable, its tests are skipped: ${status.reason}`);
}

export function randn(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * rng.normal();
  return a;
}

export function randInts(rng: Rng, n: number, limit: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.int(limit);
  return a;
}

export function dot64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Largest |a - b| / (atol + rtol*|b|) over all elements (<= 1 means within tolerance). */
export function worstRatio(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    const r = d === 0 ? 0 : d / (atol + rtol * Math.abs(b[i]));
    if (!(r <= worst)) worst = r;
  }
  return worst;
}

/** A registry's parameters and state bound to fresh buffers and initialised (a model without a Model). */
export function bindRegistry(registry: Registry, seed = 1): { params: Float32Array; grads: Float32Array; state: Float32Array } {
  const params = new Float32Array(registry.paramSize);
  const grads = new Float32Array(registry.paramSize);
  const state = new Float32Array(registry.stateSize);
  const root = new Rng(seed);
  for (const p of registry.params) {
    p.value = params.subarray(p.offset, p.offset + p.size);
    p.grad = grads.subarray(p.offset, p.offset + p.size);
    p.init(p.value, root.fork(p.name));
  }
  for (const s of registry.states) {
    s.value = state.subarray(s.offset, s.offset + s.size);
    s.value.fill(s.initial);
  }
  return { params, grads, state };
}

export interface DirectionalResult {
  numeric: number;
  analytic: number;
  /** |numeric - analytic| / max(|numeric|, |analytic|, floor). */
  error: number;
}

/**
 * Central-difference check of a gradient along a direction supported on buf[start, end): the direction is the
 * analytic gradient (normalised) plus Gaussian noise, so the signal is never tiny and every coordinate matters.
 * The perturbations actually applied (after float32 rounding) are used for the analytic side.
 */
export function directionalCheck(
  f: () => number, buf: Float32Array, grad: ArrayLike<number>, start: number, end: number, eps: number, rng: Rng,
): DirectionalResult {
  const n = end - start;
  let rms = 0;
  for (let i = 0; i < n; i++) rms += grad[i] * grad[i];
  rms = Math.sqrt(rms / Math.max(1, n));
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = (rms > 0 ? grad[i] / rms : 0) + rng.normal();
  const orig = buf.slice(start, end);
  let analytic = 0;
  for (let i = 0; i < n; i++) buf[start + i] = orig[i] + eps * v[i];
  const plus = f();
  for (let i = 0; i < n; i++) analytic += grad[i] * (buf[start + i] - orig[i]);
  for (let i = 0; i < n; i++) buf[start + i] = orig[i] - eps * v[i];
  const minus = f();
  for (let i = 0; i < n; i++) analytic -= grad[i] * (buf[start + i] - orig[i]);
  buf.set(orig, start);
  const numeric = plus - minus;
  const error = Math.abs(numeric - analytic) / Math.max(Math.abs(numeric), Math.abs(analytic), 1e-30);
  return { numeric: numeric / (2 * eps), analytic: analytic / (2 * eps), error };
}

/**
 * directionalCheck at several step sizes, keeping the best: truncation error falls and float32 noise grows as the
 * step shrinks, while a wrong gradient is wrong at every step size.
 */
export function bestDirectionalCheck(
  f: () => number, buf: Float32Array, grad: ArrayLike<number>, start: number, end: number, rng: Rng,
  steps: readonly number[] = [1e-3, 1e-4, 1e-5],
): DirectionalResult {
  let best: DirectionalResult | null = null;
  const seed = rng.nextUint32();
  for (const eps of steps) {
    const res = directionalCheck(f, buf, grad, start, end, eps, new Rng(seed));
    if (!best || res.error < best.error) best = res;
  }
  return best as DirectionalResult;
}
