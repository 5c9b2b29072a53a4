import type { Dtype, Vec } from '../core/vec.js';
import { allocVec } from '../core/vec.js';
import type { Backend } from '../engine/backend.js';
import { Acid, type AcidState } from './acid.js';
import type { LocalOptimizer } from './local-optimizer.js';
import { outerLoop, outerStep, pseudoGradient, type OuterLoop, type OuterOptions } from './outer.js';
import { restoreFields, type Algorithm, type GradientSource, type PairwiseCapability, type ParamRange, type SavedState, type WorkerState } from './types.js';

export interface GossipDilocoOptions extends OuterOptions {
  dim: number;
  dtype: Dtype;
  backend: Backend | null;
  /** A2CiD2's constants for the graph and rate (docs/algorithms.md §2); η = 0 without tracking. */
  eta: number;
  alphaTilde: number;
  /** Keep A2CiD2's x̃ on the outer models (false: plain asynchronous gossip between them). @default true */
  tracking?: boolean;
}

export interface GossipDilocoState extends WorkerState {
  /** θ_i: the inner model, where gradients are taken. */
  readonly x: Vec;
  /** φ_i: the outer model, gossiped with the neighbours. */
  readonly outer: Vec;
  /** φ̃_i: A2CiD2's second copy of the outer model (null without tracking). */
  readonly outerTilde: Vec | null;
  /** The outer optimizer's momentum. */
  readonly momentum: Vec;
  /** Inner steps taken in the current round. */
  inner: number;
  /** Time up to which A2CiD2's mixing of φ and φ̃ has been applied. */
  t: number;
}

/**
 * Gossip-DiLoCo: DiLoCo (docs/algorithms.md §5.1) without a global all-reduce. Each worker keeps an outer model φ_i
 * that it averages with its graph neighbours by A2CiD2's pairwise exchanges (asynchronous, no barrier, constants
 * from the graph), at any time; what it sends is φ_i. A round starts from the current φ_i (θ_i ← φ_i) and takes H
 * inner steps on θ_i; whatever moves φ_i meanwhile (exchanges, A2CiD2's mixing) moves θ_i alike, so that
 * θ_i − φ_i is the round's own progress and the pseudo-gradient Δ_i = φ_i − θ_i holds no neighbour's work. After H
 * inner steps, the outer step on φ_i (and, as a local step of A2CiD2, on φ̃_i alike):
 *   nesterov: m ← μ m + Δ_i;  φ ← φ − lr (Δ_i + μ m)        sgd: m ← μ m + Δ_i;  φ ← φ − lr m
 * With H = 1 and outer SGD of lr 1 without momentum the outer step is the local step itself, and the algorithm is
 * A2CiD2 (gossip without tracking) up to rounding (a test).
 */
export class GossipDiloco implements Algorithm<GossipDilocoState> {
  readonly name: string;
  readonly pairwise: PairwiseCapability<GossipDilocoState>;
  private readonly acid: Acid;
  private readonly grad: Vec;
  /** φ before A2CiD2 moves it, to move θ alike. */
  private readonly before: Vec;
  private readonly loop: OuterLoop;
  private readonly whole: readonly ParamRange[];
  /** This worker's pseudo-gradient at the end of a round. */
  private readonly delta: Vec;

  constructor(private readonly opts: GossipDilocoOptions) {
    const tracking = opts.tracking ?? true;
    this.name = 'gossip-diloco';
    this.loop = outerLoop(opts, 'gossip-diloco');
    this.whole = [{ start: 0, end: opts.dim }];
    this.delta = allocVec(opts.dtype, opts.dim);
    this.acid = new Acid({ dim: opts.dim, dtype: opts.dtype, backend: opts.backend, eta: tracking ? opts.eta : 0, alphaTilde: opts.alphaTilde, tracking });
    this.grad = allocVec(opts.dtype, opts.dim);
    this.before = allocVec(opts.dtype, opts.dim);
    const pairwise = this.acid.pairwise;
    this.pairwise = {
      messageLength: () => opts.dim,
      message: (s, t, out) => this.withOuter(s, (o) => pairwise.message(o, t, out)),
      receive: (s, t, peer) => this.withOuter(s, (o) => pairwise.receive(o, t, peer)),
    };
  }

  createState(x0: Vec, t0 = 0): GossipDilocoState {
    const { dtype, dim } = this.opts;
    const copy = () => {
      const v = allocVec(dtype, dim);
      v.set(x0);
      return v;
    };
    const o = this.acid.createState(x0, t0);
    return { x: copy(), outer: o.x, outerTilde: o.xt, momentum: allocVec(dtype, dim), inner: 0, t: t0 };
  }

  /**
   * The outer model as A2CiD2's state: its handlers mix and exchange φ and φ̃ in place and move the time; θ moves
   * as φ does.
   */
  private withOuter(s: GossipDilocoState, act: (o: AcidState) => void): void {
    const before = this.before;
    const o: AcidState = { x: s.outer, xt: s.outerTilde, t: s.t };
    before.set(s.outer);
    act(o);
    s.t = o.t;
    const phi = s.outer;
    const theta = s.x;
    for (let k = 0; k < phi.length; k++) theta[k] += phi[k] - before[k];
  }

  advance(s: GossipDilocoState, t: number): void {
    this.withOuter(s, (o) => this.acid.advance(o, t));
  }

  localStep(s: GossipDilocoState, t: number, gradient: GradientSource, optimizer: LocalOptimizer): number {
    this.advance(s, t);
    if (s.inner === 0) s.x.set(s.outer);
    const loss = gradient(s.x, this.grad);
    optimizer.update(s.x, this.grad);
    if (++s.inner >= this.loop.H) this.outerStep(s);
    return loss;
  }

  /** The outer step with this worker's own pseudo-gradient, on φ and φ̃ alike. */
  private outerStep(s: GossipDilocoState): void {
    pseudoGradient(s.outer, s.x, this.whole, this.delta);
    outerStep(this.loop, s.outer, s.momentum, this.delta, this.whole, s.outerTilde);
    s.inner = 0;
  }

  saved(s: GossipDilocoState): SavedState {
    const vectors: Record<string, Vec> = { outer: s.outer, momentum: s.momentum };
    if (s.outerTilde) vectors.outerTilde = s.outerTilde;
    return { vectors, scalars: { inner: s.inner, t: s.t } };
  }

  restore(s: GossipDilocoState, saved: SavedState): void {
    restoreFields(s, saved);
  }
}
