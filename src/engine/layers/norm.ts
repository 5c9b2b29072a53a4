import type { Backend } from '../backend.js';
import { constantInit, type Param, type Scope, type StateVar } from '../layout.js';
import { checkInput, Layer, Slot } from './layer.js';

/**
 * BatchNorm2d over NCHW activations. Training mode normalises with batch statistics and updates the running
 * mean/variance (kept in the model's state buffer, not in the parameters); evaluation mode uses the running
 * statistics. gamma = 1, beta = 0, running mean 0 and variance 1 initially, as in PyTorch.
 */
export class BatchNorm2d extends Layer {
  readonly gamma: Param;
  readonly beta: Param;
  readonly runningMean: StateVar;
  readonly runningVar: StateVar;
  private x: Float32Array = new Float32Array(0);
  private batch = 0;
  private trained = false;
  private readonly mean: Float32Array;
  private readonly rstd: Float32Array;
  private readonly out = new Slot();
  private readonly dx = new Slot();

  constructor(
    backend: Backend, scope: Scope, readonly channels: number, readonly spatial: number,
    readonly eps = 1e-5, readonly momentum = 0.1,
  ) {
    super(backend);
    this.gamma = scope.param('weight', [channels], 'norm', constantInit(1));
    this.beta = scope.param('bias', [channels], 'norm', constantInit(0));
    this.runningMean = scope.state('running_mean', [channels], 'running_mean', 0);
    this.runningVar = scope.state('running_var', [channels], 'running_var', 1);
    this.mean = new Float32Array(channels);
    this.rstd = new Float32Array(channels);
  }

  forward(x: Float32Array, batch: number, train: boolean): Float32Array {
    checkInput(x, batch, this.channels * this.spatial, 'BatchNorm2d');
    const y = this.out.get(x.length);
    this.x = x;
    this.batch = batch;
    this.trained = train;
    if (train) {
      this.backend.batchNormTrain(
        x, this.gamma.value, this.beta.value, y, this.mean, this.rstd, this.runningMean.value, this.runningVar.value,
        batch, this.channels, this.spatial, this.eps, this.momentum,
      );
    } else {
      this.backend.batchNormEval(
        x, this.gamma.value, this.beta.value, y, this.runningMean.value, this.runningVar.value,
        batch, this.channels, this.spatial, this.eps,
      );
    }
    return y;
  }

  backward(dy: Float32Array): Float32Array | null {
    if (!this.trained) throw new Error('BatchNorm2d: backward needs a forward pass in training mode');
    const dx = this.dx.get(dy.length);
    this.backend.batchNormBackward(
      this.x, dy, this.gamma.value, this.mean, this.rstd, dx, this.gamma.grad, this.beta.grad,
      this.batch, this.channels, this.spatial,
    );
    return this.computeInputGrad ? dx : null;
  }
}

/**
 * GroupNorm over NCHW activations (as torch.nn.GroupNorm): for each sample, the channels are split into `groups`
 * groups of channels/groups consecutive channels, each normalised with the mean and biased variance of its
 * (channels/groups)·spatial values, then scaled and shifted per channel. Unlike BatchNorm2d it uses no batch
 * statistics (a sample's output does not depend on the rest of the batch) and keeps no running statistics, so
 * training and evaluation compute the same thing. groups = 1 is LayerNorm over each sample with a per-channel
 * affine; groups = channels is InstanceNorm. gamma = 1, beta = 0 initially (kind 'norm', like BatchNorm2d's).
 */
export class GroupNorm extends Layer {
  readonly gamma: Param;
  readonly beta: Param;
  private x: Float32Array = new Float32Array(0);
  private batch = -1;
  private mean: Float32Array = new Float32Array(0);
  private rstd: Float32Array = new Float32Array(0);
  private readonly meanSlot = new Slot();
  private readonly rstdSlot = new Slot();
  private readonly out = new Slot();
  private readonly dx = new Slot();

  constructor(
    backend: Backend, scope: Scope, readonly channels: number, readonly spatial: number, readonly groups: number,
    readonly eps = 1e-5,
  ) {
    super(backend);
    if (!Number.isInteger(groups) || groups <= 0 || !Number.isInteger(channels) || channels % groups !== 0) {
      throw new Error(`GroupNorm: groups (${groups}) must be a positive integer that divides channels (${channels})`);
    }
    this.gamma = scope.param('weight', [channels], 'norm', constantInit(1));
    this.beta = scope.param('bias', [channels], 'norm', constantInit(0));
  }

  forward(x: Float32Array, batch: number): Float32Array {
    checkInput(x, batch, this.channels * this.spatial, 'GroupNorm');
    const y = this.out.get(x.length);
    this.x = x;
    this.batch = batch;
    this.mean = this.meanSlot.get(batch * this.groups);
    this.rstd = this.rstdSlot.get(batch * this.groups);
    this.backend.groupNorm(
      x, this.gamma.value, this.beta.value, y, this.mean, this.rstd, batch, this.channels, this.spatial, this.groups,
      this.eps,
    );
    return y;
  }

  backward(dy: Float32Array): Float32Array | null {
    if (this.batch < 0) throw new Error('GroupNorm: backward needs a forward pass first');
    const dx = this.dx.get(dy.length);
    this.backend.groupNormBackward(
      this.x, dy, this.gamma.value, this.mean, this.rstd, dx, this.gamma.grad, this.beta.grad,
      this.batch, this.channels, this.spatial, this.groups,
    );
    return this.computeInputGrad ? dx : null;
  }
}

/** LayerNorm over the last axis (size `features`) of rows; gamma = 1, beta = 0 initially. */
export class LayerNorm extends Layer {
  readonly gamma: Param;
  readonly beta: Param;
  private x: Float32Array = new Float32Array(0);
  private rows = 0;
  private mean: Float32Array = new Float32Array(0);
  private rstd: Float32Array = new Float32Array(0);
  private readonly meanSlot = new Slot();
  private readonly rstdSlot = new Slot();
  private readonly out = new Slot();
  private readonly dx = new Slot();

  constructor(backend: Backend, scope: Scope, readonly features: number, readonly eps = 1e-5) {
    super(backend);
    this.gamma = scope.param('weight', [features], 'norm', constantInit(1));
    this.beta = scope.param('bias', [features], 'norm', constantInit(0));
  }

  forward(x: Float32Array): Float32Array {
    const rows = x.length / this.features;
    if (!Number.isInteger(rows)) throw new Error(`LayerNorm: input length ${x.length} is not a multiple of ${this.features}`);
    const y = this.out.get(x.length);
    this.x = x;
    this.rows = rows;
    this.mean = this.meanSlot.get(rows);
    this.rstd = this.rstdSlot.get(rows);
    this.backend.layerNorm(x, this.gamma.value, this.beta.value, y, this.mean, this.rstd, rows, this.features, this.eps);
    return y;
  }

  backward(dy: Float32Array): Float32Array | null {
    const dx = this.dx.get(dy.length);
    this.backend.layerNormBackward(
      this.x, dy, this.gamma.value, this.mean, this.rstd, dx, this.gamma.grad, this.beta.grad, this.rows, this.features,
    );
    return this.computeInputGrad ? dx : null;
  }
}
