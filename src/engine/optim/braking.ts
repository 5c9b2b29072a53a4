/**
 * Adaptive Braking (Venigalla, Kosson, Chiley, Köster, *Adaptive Braking for Mitigating Gradient Delay*, 2020,
 * arXiv 2007.01397): a change to any momentum optimizer that scales each tensor's gradient by how it lines up with
 * the momentum, just before the momentum update. For every tensor T (a range of the flat vector):
 *
 *   c_T = ⟨g_T, v_T⟩ / (‖g_T‖ ‖v_T‖)      (c_T = 0 when g_T or v_T is zero; clamped to [−1, 1])
 *   g_T ← (1 − ρ c_T) g_T
 *
 * where v is the momentum as it stands before this step's update, with the sign in which gradients accumulate
 * (SGD's buffer b ← μ b + g; AdamW's first moment m). A gradient along the momentum (c > 0: the parameters still move
 * downhill) is damped; a gradient against it (c < 0: the momentum has carried the parameters past a minimum, as
 * stale gradients make it do along directions of high curvature) is amplified, so that it brakes the momentum sooner.
 * The factor lies in [1 − ρ, 1 + ρ]; ρ = 0 leaves the optimizer unchanged (no operation at all).
 *
 * The braked gradient is the loss gradient after clipping; a coupled weight-decay term (SGD's wd·x, computed at the
 * current parameters, never stale) is added after braking. Nothing is stored: braking reads the momentum that the
 * optimizer keeps (and a checkpoint saves) anyway.
 */
import { UsageError } from '../../core/errors.js';
import type { Vec } from '../../core/vec.js';
import type { Backend } from '../backend.js';

/** Adaptive Braking's ρ when none is given: off. */
export const DEFAULT_BRAKING = 0;

/** A tensor: the range [start, end) of the flat vector. */
export interface TensorRange {
  readonly start: number;
  readonly end: number;
}

/**
 * ρ must be a finite number ≥ 0, and above 0 only with a momentum to read (`flag` names the setting in the error,
 * `needs` what the momentum is there).
 */
export function checkBraking(rho: number, hasMomentum: boolean, flag = '--braking', needs = 'SGD with --momentum above 0, or AdamW'): void {
  if (!(rho >= 0 && Number.isFinite(rho))) throw new UsageError(`${flag} must be a finite number ≥ 0 (got ${rho})`);
  if (rho > 0 && !hasMomentum) throw new UsageError(`${flag} (Adaptive Braking) needs a momentum to brake: ${needs}`);
}

/**
 * The tensors of a layout as ranges covering [0, size) in order: every entry, and every gap between entries as a
 * tensor of its own. Without a layout (a flat objective), the whole vector is one tensor.
 */
export function tensorRanges(layout: readonly { offset: number; size: number }[] | undefined, size: number): TensorRange[] {
  if (!layout || layout.length === 0) return size > 0 ? [{ start: 0, end: size }] : [];
  const entries = [...layout].sort((a, b) => a.offset - b.offset);
  const ranges: TensorRange[] = [];
  let at = 0;
  for (const e of entries) {
    if (e.offset > at) ranges.push({ start: at, end: e.offset });
    const end = Math.min(size, e.offset + e.size);
    if (end > Math.max(at, e.offset)) ranges.push({ start: Math.max(at, e.offset), end });
    at = Math.max(at, end);
  }
  if (at < size) ranges.push({ start: at, end: size });
  return ranges;
}

/** The braking factor 1 − ρ c of a tensor from ⟨g, v⟩, ‖g‖² and ‖v‖² (float64). */
export function brakingFactor(rho: number, gv: number, gg: number, vv: number): number {
  const norms = Math.sqrt(gg) * Math.sqrt(vv);
  if (!(norms > 0)) return 1;
  const c = Math.max(-1, Math.min(1, gv / norms));
  return 1 - rho * c;
}

/**
 * Brakes g in place against the momentum v, tensor by tensor (ρ > 0). Float32 vectors go through the backend's
 * kernels (dot products and norms accumulated in float64); float64 ones through plain loops.
 */
export function brake(g: Vec, v: Vec, tensors: readonly TensorRange[], rho: number, kernels: Backend | null): void {
  if (rho === 0) return;
  for (const { start, end } of tensors) {
    if (kernels && g instanceof Float32Array && v instanceof Float32Array) {
      const gs = g.subarray(start, end);
      const vs = v.subarray(start, end);
      const f = brakingFactor(rho, kernels.dot(gs, vs), kernels.sumSquares(gs), kernels.sumSquares(vs));
      if (f !== 1) kernels.scale(gs, f);
      continue;
    }
    let gv = 0;
    let gg = 0;
    let vv = 0;
    for (let i = start; i < end; i++) {
      gv += g[i] * v[i];
      gg += g[i] * g[i];
      vv += v[i] * v[i];
    }
    const f = brakingFactor(rho, gv, gg, vv);
    if (f !== 1) for (let i = start; i < end; i++) g[i] *= f;
  }
}
