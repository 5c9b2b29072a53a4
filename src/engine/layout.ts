/**
 * Flat parameter layout. Every learnable tensor of a model is a view into ONE Float32Array at a known offset
 * (gradients likewise, same offsets); non-learnable state (BatchNorm running statistics) lives in a second flat
 * buffer with its own layout. Layers register their tensors at construction time; the model then binds views.
 */
import { createHash } from 'node:crypto';
import { Rng } from '../core/rng.js';

export type ParamKind = 'weight' | 'bias' | 'norm' | 'embedding';
export type StateKind = 'running_mean' | 'running_var';

/** One tensor of a flat buffer: name (dot-separated path), shape, offset and size in floats. */
export interface LayoutEntry<K extends string = ParamKind> {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
  readonly kind: K;
}

/** Fills a freshly allocated tensor with its initial values. */
export type Initializer = (values: Float32Array, rng: Rng) => void;

const EMPTY = new Float32Array(0);

/** A learnable tensor: its place in the layout and, once bound, its value and gradient views. */
export class Param implements LayoutEntry {
  value: Float32Array = EMPTY;
  grad: Float32Array = EMPTY;
  constructor(
    readonly name: string,
    readonly shape: readonly number[],
    readonly kind: ParamKind,
    readonly offset: number,
    readonly size: number,
    readonly init: Initializer,
  ) {}
}

/** A non-learnable tensor (running statistics), bound to the state buffer. */
export class StateVar implements LayoutEntry<StateKind> {
  value: Float32Array = EMPTY;
  constructor(
    readonly name: string,
    readonly shape: readonly number[],
    readonly kind: StateKind,
    readonly offset: number,
    readonly size: number,
    readonly initial: number,
  ) {}
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d <= 0) throw new Error(`invalid tensor shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

/** Collects parameters and state of a model while its layers are constructed, assigning offsets in order. */
export class Registry {
  readonly params: Param[] = [];
  readonly states: StateVar[] = [];
  paramSize = 0;
  stateSize = 0;
  /** The model's random streams (dropout masks) by name, so that a checkpoint can carry their positions. */
  readonly streams = new Map<string, Rng>();
  private readonly names = new Set<string>();

  constructor(readonly seed: number = 0) {}

  /** A named random stream derived from the seed and the name. */
  stream(name: string): Rng {
    if (this.streams.has(name)) throw new Error(`duplicate random stream ${name}`);
    const rng = new Rng(this.seed).fork(name);
    this.streams.set(name, rng);
    return rng;
  }

  param(name: string, shape: readonly number[], kind: ParamKind, init: Initializer): Param {
    if (this.names.has(name)) throw new Error(`duplicate parameter name ${name}`);
    this.names.add(name);
    const size = product(shape);
    const p = new Param(name, [...shape], kind, this.paramSize, size, init);
    this.params.push(p);
    this.paramSize += size;
    return p;
  }

  state(name: string, shape: readonly number[], kind: StateKind, initial: number): StateVar {
    if (this.names.has(`state:${name}`)) throw new Error(`duplicate state name ${name}`);
    this.names.add(`state:${name}`);
    const size = product(shape);
    const s = new StateVar(name, [...shape], kind, this.stateSize, size, initial);
    this.states.push(s);
    this.stateSize += size;
    return s;
  }

  /** A scope that prefixes names with `prefix.`. */
  scope(prefix: string): Scope {
    return new Scope(this, prefix);
  }
}

/** A naming scope over a registry (layers register through scopes, so names read like `blocks.0.attn.qkv.weight`). */
export class Scope {
  constructor(readonly registry: Registry, readonly prefix: string) {}

  private full(name: string): string {
    return this.prefix === '' ? name : `${this.prefix}.${name}`;
  }

  param(name: string, shape: readonly number[], kind: ParamKind, init: Initializer): Param {
    return this.registry.param(this.full(name), shape, kind, init);
  }

  state(name: string, shape: readonly number[], kind: StateKind, initial: number): StateVar {
    return this.registry.state(this.full(name), shape, kind, initial);
  }

  child(name: string | number): Scope {
    return new Scope(this.registry, this.full(String(name)));
  }

  /** A random stream for this scope (dropout masks), derived from the registry's seed and the scope's name. */
  rng(label = ''): Rng {
    return this.registry.stream(this.full(label));
  }
}

/** The plain layout entries of a list of params or state variables. */
export function layoutOf<K extends string>(entries: readonly LayoutEntry<K>[]): LayoutEntry<K>[] {
  return entries.map((e) => ({ name: e.name, shape: [...e.shape], offset: e.offset, size: e.size, kind: e.kind }));
}

/** What a layout belongs to: a registered model name and its full configuration. */
export interface ModelIdentity {
  readonly name: string;
  readonly config: Readonly<Record<string, unknown>>;
}

/** JSON with object keys sorted at every level (arrays keep their order). */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = canonical((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/**
 * The canonical JSON of a layout: the model's name and configuration (keys sorted; so that, e.g., two transformers
 * whose tensors have the same shapes but different head counts differ), then the entries in offset order with
 * keys in a fixed order, no whitespace. Its sha256 is the layout hash that peers compare before exchanging
 * parameters.
 */
export function canonicalLayoutJson(
  params: readonly LayoutEntry[], state: readonly LayoutEntry<StateKind>[] = [], model?: ModelIdentity,
): string {
  const entry = (e: LayoutEntry<string>) => ({ name: e.name, kind: e.kind, shape: [...e.shape], offset: e.offset, size: e.size });
  const sorted = <T extends LayoutEntry<string>>(a: readonly T[]) => [...a].sort((x, y) => x.offset - y.offset);
  return JSON.stringify({
    format: 'gossamer-layout-1',
    dtype: 'f32',
    model: model ? { name: model.name, config: canonical(model.config) } : null,
    params: sorted(params).map(entry),
    state: sorted(state).map(entry),
  });
}

/** sha256 (hex) of the canonical layout JSON. */
export function layoutHash(
  params: readonly LayoutEntry[], state: readonly LayoutEntry<StateKind>[] = [], model?: ModelIdentity,
): string {
  return createHash('sha256').update(canonicalLayoutJson(params, state, model)).digest('hex');
}

// ---------------------------------------------------------------------------------------------------------------
// Initializers (PyTorch defaults)

/** U(−bound, bound). */
export function uniformInit(bound: number): Initializer {
  return (values, rng) => {
    for (let i = 0; i < values.length; i++) values[i] = (2 * rng.uniform() - 1) * bound;
  };
}

/** N(0, std²). */
export function normalInit(std: number): Initializer {
  return (values, rng) => {
    for (let i = 0; i < values.length; i++) values[i] = std * rng.normal();
  };
}

export function constantInit(value: number): Initializer {
  return (values) => {
    values.fill(value);
  };
}

/**
 * PyTorch's default for Linear and Conv weights: kaiming_uniform_(a = √5), i.e. U(−1/√fanIn, 1/√fanIn); the
 * default bias init is the same bound.
 */
export function kaimingUniformDefault(fanIn: number): Initializer {
  return uniformInit(1 / Math.sqrt(fanIn));
}
