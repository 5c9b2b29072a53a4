/**
 * The live topology: the workers on a circle, the graph's edges between them, an edge lit when an exchange went
 * over it since the last update — a Vega-Lite layer of rules, circles and labels over one data set of nodes and
 * edges.
 */

/** A node or an edge of the drawing. */
export interface GraphItem {
  type: 'node' | 'edge';
  x: number;
  y: number;
  /** The other end of an edge. */
  x2?: number;
  y2?: number;
  /** A node's worker, or an edge's "i–j". */
  label: string;
  /** An exchange went over the edge since the last update. */
  lit?: boolean;
  /** A node's worker is alive. */
  alive?: boolean;
  steps?: number;
}

const position = (i: number, n: number): { x: number; y: number } =>
  n === 1 ? { x: 0, y: 0 } : { x: Math.sin((2 * Math.PI * i) / n), y: Math.cos((2 * Math.PI * i) / n) };

/** The drawing's items: n workers, the edges, the lit ones, and what each worker has done. */
export function graphItems(
  n: number, edges: ReadonlyArray<readonly [number, number]>, lit: ReadonlySet<string>,
  workers: ReadonlyArray<{ steps: number; alive: boolean } | undefined> = [],
): GraphItem[] {
  const items: GraphItem[] = edges.map(([a, b]) => {
    const p = position(a, n);
    const q = position(b, n);
    return { type: 'edge', x: p.x, y: p.y, x2: q.x, y2: q.y, label: `${a}–${b}`, lit: lit.has(edgeKey(a, b)) };
  });
  for (let i = 0; i < n; i++) {
    const w = workers[i];
    items.push({ type: 'node', ...position(i, n), label: String(i), alive: w?.alive ?? true, steps: w?.steps ?? 0 });
  }
  return items;
}

/** The key of an undirected edge. */
export const edgeKey = (a: number, b: number): string => (a < b ? `${a}-${b}` : `${b}-${a}`);

const axis = { axis: null, scale: { domain: [-1.25, 1.25] } };

/** The chart: edges grey, lit ones thick and orange; workers as circles (grey once gone) with their index. */
export function topologyChart(): { id: string; spec: object } {
  return {
    id: 'topology',
    spec: {
      width: 320, height: 320,
      title: 'Topology (edges light up on exchanges)',
      data: { name: 'points' },
      layer: [
        {
          transform: [{ filter: "datum.type === 'edge'" }],
          mark: { type: 'rule', tooltip: true },
          encoding: {
            x: { field: 'x', type: 'quantitative', ...axis }, y: { field: 'y', type: 'quantitative', ...axis },
            x2: { field: 'x2' }, y2: { field: 'y2' },
            color: { condition: { test: 'datum.lit', value: '#e4572e' }, value: '#c8c8c8' },
            strokeWidth: { condition: { test: 'datum.lit', value: 4 }, value: 1.5 },
          },
        },
        {
          transform: [{ filter: "datum.type === 'node'" }],
          mark: { type: 'circle', size: 420, opacity: 1, tooltip: true },
          encoding: {
            x: { field: 'x', type: 'quantitative', ...axis }, y: { field: 'y', type: 'quantitative', ...axis },
            color: { condition: { test: 'datum.alive', value: '#4c78a8' }, value: '#999999' },
          },
        },
        {
          transform: [{ filter: "datum.type === 'node'" }],
          mark: { type: 'text', color: 'white', fontWeight: 'bold' },
          encoding: {
            x: { field: 'x', type: 'quantitative', ...axis }, y: { field: 'y', type: 'quantitative', ...axis },
            text: { field: 'label' },
          },
        },
      ],
    },
  };
}
