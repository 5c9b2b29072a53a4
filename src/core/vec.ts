/** Flat float vectors: the one storage type for parameters, gradients and algorithm states. */
export type Vec = Float32Array | Float64Array;
export type Dtype = 'f32' | 'f64';

export function allocVec(dtype: Dtype, length: number, shared = false): Vec {
  const bytes = dtype === 'f32' ? 4 : 8;
  const buffer = shared ? new SharedArrayBuffer(length * bytes) : new ArrayBuffer(length * bytes);
  return dtype === 'f32' ? new Float32Array(buffer) : new Float64Array(buffer);
}

/** Sum of squared differences ‖a − b‖². */
export function sqDist(a: Vec, b: Vec): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) {
    const d = a[k] - b[k];
    s += d * d;
  }
  return s;
}

export function sqNorm(a: Vec): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * a[k];
  return s;
}

/** y ← y + a·x */
export function axpy(a: number, x: Vec, y: Vec): void {
  for (let k = 0; k < y.length; k++) y[k] += a * x[k];
}
