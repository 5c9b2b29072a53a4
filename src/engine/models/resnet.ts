import type { Backend } from '../backend.js';
import { ReLU } from '../layers/activation.js';
import { Conv2d } from '../layers/conv.js';
import { Layer, Slot } from '../layers/layer.js';
import { Linear } from '../layers/linear.js';
import { BatchNorm2d, GroupNorm } from '../layers/norm.js';
import { GlobalAvgPool } from '../layers/pool.js';
import { Sequential } from '../layers/sequential.js';
import { Registry, type Scope } from '../layout.js';
import { Model, type ModelBuffers } from './model.js';
import { LayerNetwork } from './network.js';

/**
 * Builds the normalisation layer of a ResNet over `channels` channels of `spatial` values each, registering its
 * parameters (and state, for BatchNorm2d) under `scope`.
 */
export type NormFactory = (backend: Backend, scope: Scope, channels: number, spatial: number) => Layer;

/** BatchNorm2d with PyTorch's defaults (the ResNet default). */
export const batchNormFactory: NormFactory = (backend, scope, channels, spatial) =>
  new BatchNorm2d(backend, scope, channels, spatial);

/**
 * GroupNorm with gcd(channels, groups) groups: `groups` itself wherever it divides the layer's channel count, else
 * the largest divisor of it that also divides the channel count (e.g. 4 groups for 4 or 12 channels when groups is
 * 8), so that every layer of a network with mixed widths gets a valid grouping.
 */
export function groupNormFactory(groups: number): NormFactory {
  return (backend, scope, channels, spatial) => new GroupNorm(backend, scope, channels, spatial, gcd(channels, groups));
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * ResNet basic block: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), convolutions 3×3 without bias
 * (the first with the block's stride); the shortcut is the identity, or conv1×1(stride) + BN when the shape changes.
 * `norm` builds the normalisation layers (default BatchNorm2d); they keep the names bn1, bn2 and shortcut.bn
 * whatever their kind, as torchvision's ResNet does with its norm_layer option.
 */
export class BasicBlock extends Layer {
  readonly main: Sequential;
  readonly shortcut: Sequential | null;
  readonly outChannels: number;
  readonly outHeight: number;
  readonly outWidth: number;
  private y: Float32Array = new Float32Array(0);
  private readonly out = new Slot();
  private readonly dsum = new Slot();
  private readonly dx = new Slot();

  constructor(
    backend: Backend, scope: Scope, inChannels: number, outChannels: number, height: number, width: number, stride: number,
    norm: NormFactory = batchNormFactory,
  ) {
    super(backend);
    const conv1 = new Conv2d(backend, scope.child('conv1'), {
      inChannels, outChannels, kernel: 3, stride, padding: 1, bias: false, height, width,
    });
    const oh = conv1.outHeight;
    const ow = conv1.outWidth;
    const conv2 = new Conv2d(backend, scope.child('conv2'), {
      inChannels: outChannels, outChannels, kernel: 3, stride: 1, padding: 1, bias: false, height: oh, width: ow,
    });
    this.main = new Sequential(backend, [
      conv1, norm(backend, scope.child('bn1'), outChannels, oh * ow), new ReLU(backend),
      conv2, norm(backend, scope.child('bn2'), outChannels, oh * ow),
    ]);
    this.shortcut = stride !== 1 || inChannels !== outChannels
      ? new Sequential(backend, [
        new Conv2d(backend, scope.child('shortcut.conv'), {
          inChannels, outChannels, kernel: 1, stride, padding: 0, bias: false, height, width,
        }),
        norm(backend, scope.child('shortcut.bn'), outChannels, oh * ow),
      ])
      : null;
    this.outChannels = outChannels;
    this.outHeight = oh;
    this.outWidth = ow;
  }

  override setComputeInputGrad(value: boolean): void {
    super.setComputeInputGrad(value);
    this.main.setComputeInputGrad(value);
    this.shortcut?.setComputeInputGrad(value);
  }

  forward(x: Float32Array, batch: number, train: boolean): Float32Array {
    const main = this.main.forward(x, batch, train);
    const short = this.shortcut ? this.shortcut.forward(x, batch, train) : x;
    const y = this.out.get(main.length);
    this.backend.add(main, short, y);
    this.backend.relu(y, y);
    this.y = y;
    return y;
  }

  backward(dy: Float32Array): Float32Array | null {
    const d = this.dsum.get(dy.length);
    this.backend.reluBackward(this.y, dy, d);
    const dmain = this.main.backward(d);
    const dshort = this.shortcut ? this.shortcut.backward(d) : d;
    if (!this.computeInputGrad || dmain === null || dshort === null) return null;
    const dx = this.dx.get(dmain.length);
    this.backend.add(dmain, dshort, dx);
    return dx;
  }
}

export interface ResNetConfig {
  /** Input channels, height and width (default 3 × 32 × 32). */
  channels?: number;
  height?: number;
  width?: number;
  classes?: number;
  /** Channels of the first stage; stages have baseWidth, 2·baseWidth, 4·baseWidth (default 16). */
  baseWidth?: number;
  /** Basic blocks per stage (default 3: depth 6·3 + 2 = 20). */
  blocksPerStage?: number;
  /**
   * Normalisation layers: 'batch' (BatchNorm2d, the default) or 'group' (GroupNorm, which does not depend on the
   * rest of the batch and keeps no running statistics, so the model has no state buffer).
   */
  norm?: 'batch' | 'group';
  /**
   * Groups of GroupNorm (default 8; only with norm 'group'). A layer with C channels uses gcd(C, groups) groups,
   * i.e. `groups` wherever it divides C, so any value works with any width (baseWidth 4 and groups 8 give 4 groups
   * of one channel in the first stage and 4 groups in the others).
   */
  groups?: number;
}

/**
 * ResNet-20 for small images (He et al. 2016, CIFAR variant): conv3×3 + norm + ReLU stem, three stages of basic
 * blocks (strides 1, 2, 2; projection shortcuts where the shape changes), global average pooling, Linear. The norm
 * layers are BatchNorm2d, or GroupNorm with config.norm = 'group' (gcd(channels, groups) groups per layer, groups
 * default 8; see ResNetConfig).
 *
 * The model's config (part of the layout hash) holds `norm` and `groups` only with norm 'group': a BatchNorm
 * ResNet, whether norm is left out or given as 'batch', has exactly the config, layout and hash it had before the
 * option existed.
 */
export function createResNet(backend: Backend, config: ResNetConfig = {}, buffers: ModelBuffers = {}): Model {
  const norm = config.norm ?? 'batch';
  if (norm !== 'batch' && norm !== 'group') {
    throw new Error(`resnet20: norm must be 'batch' or 'group' (got ${String(norm)})`);
  }
  if (norm === 'batch' && config.groups !== undefined) throw new Error("resnet20: groups applies only with norm 'group'");
  const groups = config.groups ?? 8;
  if (!Number.isInteger(groups) || groups <= 0) {
    throw new Error(`resnet20: groups must be a positive integer (got ${groups})`);
  }
  const full: Required<Omit<ResNetConfig, 'norm' | 'groups'>> & Pick<ResNetConfig, 'norm' | 'groups'> = {
    channels: config.channels ?? 3,
    height: config.height ?? 32,
    width: config.width ?? 32,
    classes: config.classes ?? 10,
    baseWidth: config.baseWidth ?? 16,
    blocksPerStage: config.blocksPerStage ?? 3,
  };
  // Only a GroupNorm model records the options, so that BatchNorm models keep their layout hash.
  if (norm === 'group') {
    full.norm = 'group';
    full.groups = groups;
  }
  const makeNorm = norm === 'group' ? groupNormFactory(groups) : batchNormFactory;
  const registry = new Registry(buffers.seed ?? 0);
  const stem = new Conv2d(backend, registry.scope('stem.conv'), {
    inChannels: full.channels, outChannels: full.baseWidth, kernel: 3, padding: 1, bias: false,
    height: full.height, width: full.width,
  });
  const layers: Layer[] = [
    stem, makeNorm(backend, registry.scope('stem.bn'), full.baseWidth, stem.outHeight * stem.outWidth), new ReLU(backend),
  ];
  let channels = full.baseWidth;
  let h = stem.outHeight;
  let w = stem.outWidth;
  for (let stage = 0; stage < 3; stage++) {
    const outChannels = full.baseWidth << stage;
    for (let i = 0; i < full.blocksPerStage; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const block = new BasicBlock(
        backend, registry.scope(`stage${stage + 1}.${i}`), channels, outChannels, h, w, stride, makeNorm,
      );
      layers.push(block);
      channels = outChannels;
      h = block.outHeight;
      w = block.outWidth;
    }
  }
  layers.push(new GlobalAvgPool(backend, channels, h, w), new Linear(backend, registry.scope('fc'), channels, full.classes));
  const network = new LayerNetwork(new Sequential(backend, layers));
  return new Model(backend, registry, network, {
    name: 'resnet20', config: full, inputShape: [full.channels, full.height, full.width], inputKind: 'f32',
    targetsPerSample: 1, classes: full.classes,
  }, buffers);
}
