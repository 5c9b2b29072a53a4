import type { Backend } from '../backend.js';

/** ‖g‖₂ of a flat gradient (float64 accumulation). */
export function gradNorm(backend: Backend, grads: Float32Array): number {
  return Math.sqrt(backend.sumSquares(grads));
}

/**
 * Gradient-norm clipping as torch.nn.utils.clip_grad_norm_: when ‖g‖ > maxNorm, g ← g · maxNorm/(‖g‖ + 1e-6).
 * Returns the norm before clipping.
 */
export function clipGradNorm(backend: Backend, grads: Float32Array, maxNorm: number): number {
  const norm = gradNorm(backend, grads);
  if (norm > maxNorm) backend.scale(grads, maxNorm / (norm + 1e-6));
  return norm;
}
