import type { LayoutEntry } from '../engine/layout.js';
import type { ParamRange } from './types.js';

/**
 * The fragments of a model that Streaming DiLoCo synchronises one at a time: P disjoint sets of parameter ranges that
 * cover [0, dim) together.
 * - With a layout (a model of the engine), strided over its layers, as in the paper: the layers are the runs of
 *   consecutive tensors of one module (the tensor name without its last component: fc1.weight and fc1.bias are layer
 *   fc1), in layout order, and fragment p holds layers p, p + P, p + 2P, … (P at most the number of layers).
 * - Without one (a convex problem's flat vector), P contiguous chunks of equal size (±1): fragment p is
 *   [⌊p·dim/P⌋, ⌊(p+1)·dim/P⌋) (P at most dim).
 * Adjacent ranges of one fragment are merged; a RangeError says why a split is impossible.
 */
export function fragmentRanges(dim: number, P: number, layout?: readonly LayoutEntry[]): ParamRange[][] {
  if (!(Number.isInteger(P) && P >= 1)) throw new RangeError(`the number of fragments must be a positive integer (got ${P})`);
  if (!layout || layout.length === 0) {
    if (P > dim) throw new RangeError(`${P} fragments of a vector of ${dim} values: at most one fragment per value`);
    return Array.from({ length: P }, (_, p) => [{ start: Math.floor((p * dim) / P), end: Math.floor(((p + 1) * dim) / P) }]);
  }
  const layers = layersOf(layout);
  if (P > layers.length) throw new RangeError(`${P} fragments of a model of ${layers.length} layers: at most one fragment per layer`);
  const fragments: ParamRange[][] = Array.from({ length: P }, () => []);
  layers.forEach((layer, l) => {
    const into = fragments[l % P];
    for (const r of layer) {
      const last = into[into.length - 1];
      if (last && last.end === r.start) into[into.length - 1] = { start: last.start, end: r.end };
      else into.push(r);
    }
  });
  const covered = fragments.flat().reduce((n, r) => n + r.end - r.start, 0);
  if (covered !== dim) throw new RangeError(`the layout covers ${covered} parameters of ${dim}`);
  return fragments;
}

/** The layers of a layout, in offset order: runs of consecutive tensors of the same module. */
function layersOf(layout: readonly LayoutEntry[]): ParamRange[][] {
  const entries = [...layout].sort((a, b) => a.offset - b.offset);
  const layers: ParamRange[][] = [];
  let module: string | null = null;
  for (const e of entries) {
    const dot = e.name.lastIndexOf('.');
    const owner = dot < 0 ? e.name : e.name.slice(0, dot);
    const range = { start: e.offset, end: e.offset + e.size };
    if (owner === module) layers[layers.length - 1].push(range);
    else layers.push([range]);
    module = owner;
  }
  return layers;
}
