import type { Backend } from '../backend.js';
import { Dropout, GELU } from '../layers/activation.js';
import { CausalSelfAttention } from '../layers/attention.js';
import { Embedding } from '../layers/embedding.js';
import { Layer, Slot } from '../layers/layer.js';
import { Linear } from '../layers/linear.js';
import { LayerNorm } from '../layers/norm.js';
import { normalInit, Registry, type Param, type Scope } from '../layout.js';
import { Model, type ModelBuffers, type Network } from './model.js';

/**
 * Pre-LayerNorm transformer block: x ← x + attn(ln1(x)); x ← x + fc2(gelu(fc1(ln2(x)))), with optional residual
 * dropout after the attention and the MLP.
 */
export class TransformerBlock extends Layer {
  readonly ln1: LayerNorm;
  readonly attn: CausalSelfAttention;
  readonly ln2: LayerNorm;
  readonly fc1: Linear;
  readonly act: GELU;
  readonly fc2: Linear;
  readonly drop1: Dropout;
  readonly drop2: Dropout;
  private readonly mid = new Slot();
  private readonly out = new Slot();
  private readonly dmid = new Slot();
  private readonly dx = new Slot();

  constructor(backend: Backend, scope: Scope, dim: number, heads: number, seq: number, mlpRatio: number, dropout: number) {
    super(backend);
    this.ln1 = new LayerNorm(backend, scope.child('ln1'), dim);
    this.attn = new CausalSelfAttention(backend, scope.child('attn'), dim, heads, seq);
    this.ln2 = new LayerNorm(backend, scope.child('ln2'), dim);
    this.fc1 = new Linear(backend, scope.child('mlp.fc1'), dim, mlpRatio * dim);
    this.act = new GELU(backend);
    this.fc2 = new Linear(backend, scope.child('mlp.fc2'), mlpRatio * dim, dim);
    this.drop1 = new Dropout(backend, dropout, scope.rng('drop1'));
    this.drop2 = new Dropout(backend, dropout, scope.rng('drop2'));
  }

  forward(x: Float32Array, batch: number, train: boolean): Float32Array {
    const b = this.backend;
    const a = this.drop1.forward(this.attn.forward(this.ln1.forward(x), batch), batch, train);
    const x1 = this.mid.get(x.length);
    b.add(x, a, x1);
    const h = this.fc2.forward(this.act.forward(this.fc1.forward(this.ln2.forward(x1))));
    const m = this.drop2.forward(h, batch, train);
    const y = this.out.get(x.length);
    b.add(x1, m, y);
    return y;
  }

  backward(dy: Float32Array): Float32Array | null {
    const b = this.backend;
    const dm = this.drop2.backward(dy) as Float32Array;
    const dln2 = this.ln2.backward(this.fc1.backward(this.act.backward(this.fc2.backward(dm) as Float32Array) as Float32Array) as Float32Array) as Float32Array;
    const dx1 = this.dmid.get(dy.length);
    b.add(dy, dln2, dx1);
    const da = this.drop1.backward(dx1) as Float32Array;
    const dln1 = this.ln1.backward(this.attn.backward(da) as Float32Array) as Float32Array;
    if (!this.computeInputGrad) return null;
    const dx = this.dx.get(dy.length);
    b.add(dx1, dln1, dx);
    return dx;
  }
}

class TransformerNetwork implements Network {
  readonly tok: Embedding;
  readonly pos: Param;
  readonly drop: Dropout;
  readonly blocks: TransformerBlock[] = [];
  readonly lnf: LayerNorm;
  readonly head: Linear;
  private batch = 0;

  constructor(readonly backend: Backend, registry: Registry, readonly cfg: Required<TransformerConfig>) {
    const { vocab, seq, dim, heads, layers, mlpRatio, dropout } = cfg;
    this.tok = new Embedding(backend, registry.scope('tok_emb'), vocab, dim);
    this.pos = registry.param('pos_emb', [seq, dim], 'embedding', normalInit(0.02));
    this.drop = new Dropout(backend, dropout, registry.scope('emb').rng('drop'));
    for (let i = 0; i < layers; i++) {
      this.blocks.push(new TransformerBlock(backend, registry.scope(`blocks.${i}`), dim, heads, seq, mlpRatio, dropout));
    }
    this.lnf = new LayerNorm(backend, registry.scope('ln_f'), dim);
    this.head = new Linear(backend, registry.scope('head'), dim, vocab, false);
  }

  forward(inputs: Float32Array | Int32Array, batch: number, train: boolean): Float32Array {
    const { seq, dim } = this.cfg;
    this.batch = batch;
    const x0 = this.tok.forward(inputs as Int32Array);
    this.backend.addBias(x0, this.pos.value, batch, seq * dim, 1);
    let h = this.drop.forward(x0, batch, train);
    for (const block of this.blocks) h = block.forward(h, batch, train);
    return this.head.forward(this.lnf.forward(h));
  }

  backward(dlogits: Float32Array): void {
    const { seq, dim } = this.cfg;
    let g = this.lnf.backward(this.head.backward(dlogits) as Float32Array) as Float32Array;
    for (let i = this.blocks.length - 1; i >= 0; i--) g = this.blocks[i].backward(g) as Float32Array;
    g = this.drop.backward(g) as Float32Array;
    this.backend.biasGrad(g, this.pos.grad, this.batch, seq * dim, 1);
    this.tok.backward(g);
  }
}

export interface TransformerConfig {
  /** Vocabulary size (default 256: bytes). */
  vocab?: number;
  /** Sequence length (default 64); every input sample is exactly this many token ids. */
  seq?: number;
  /** Model width (default 128). */
  dim?: number;
  /** Attention heads (default 4). */
  heads?: number;
  /** Transformer blocks (default 2). */
  layers?: number;
  /** MLP hidden width as a multiple of dim (default 4). */
  mlpRatio?: number;
  /** Dropout on embeddings and residual branches (default 0). */
  dropout?: number;
}

/**
 * GPT-style character language model: token + learned positional embeddings, pre-LayerNorm blocks (causal
 * multi-head attention, GELU MLP), final LayerNorm, linear head (no bias, untied). Inputs are Int32 token ids
 * [batch, seq]; targets are the next tokens [batch, seq]; the loss is the mean over all positions.
 */
export function createTransformer(backend: Backend, config: TransformerConfig = {}, buffers: ModelBuffers = {}): Model {
  const full: Required<TransformerConfig> = {
    vocab: config.vocab ?? 256,
    seq: config.seq ?? 64,
    dim: config.dim ?? 128,
    heads: config.heads ?? 4,
    layers: config.layers ?? 2,
    mlpRatio: config.mlpRatio ?? 4,
    dropout: config.dropout ?? 0,
  };
  const registry = new Registry(buffers.seed ?? 0);
  const network = new TransformerNetwork(backend, registry, full);
  return new Model(backend, registry, network, {
    name: 'transformer', config: full, inputShape: [full.seq], inputKind: 'i32', targetsPerSample: full.seq,
    classes: full.vocab,
  }, buffers);
}
