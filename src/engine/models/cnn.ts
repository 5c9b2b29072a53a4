import type { Backend } from '../backend.js';
import { ReLU } from '../layers/activation.js';
import { Conv2d } from '../layers/conv.js';
import { Linear } from '../layers/linear.js';
import { MaxPool2d } from '../layers/pool.js';
import { Sequential } from '../layers/sequential.js';
import { Registry } from '../layout.js';
import { Model, type ModelBuffers } from './model.js';
import { LayerNetwork } from './network.js';

export interface CnnConfig {
  /** Input channels, height and width (default 1 × 28 × 28). */
  channels?: number;
  height?: number;
  width?: number;
  /** Channels of the two convolutions (default 32, 64). */
  conv1?: number;
  conv2?: number;
  /** Width of the hidden dense layer (default 128). */
  hidden?: number;
  classes?: number;
}

/**
 * LeNet-style CNN (the reference workload): conv3×3(c→32) + ReLU + maxpool2, conv3×3(32→64) + ReLU + maxpool2,
 * dense (64·5·5 = 1600 → 128) + ReLU, dense 128 → 10. No padding.
 * ReLU is applied after the pooling: max pooling and ReLU commute exactly (relu is monotonic), values and
 * gradients included, and the ReLU then touches a quarter of the activations.
 */
export function createCnn(backend: Backend, config: CnnConfig = {}, buffers: ModelBuffers = {}): Model {
  const full = {
    channels: config.channels ?? 1,
    height: config.height ?? 28,
    width: config.width ?? 28,
    conv1: config.conv1 ?? 32,
    conv2: config.conv2 ?? 64,
    hidden: config.hidden ?? 128,
    classes: config.classes ?? 10,
  };
  const registry = new Registry(buffers.seed ?? 0);
  const c1 = new Conv2d(backend, registry.scope('conv1'), {
    inChannels: full.channels, outChannels: full.conv1, kernel: 3, height: full.height, width: full.width,
  });
  const p1 = new MaxPool2d(backend, full.conv1, c1.outHeight, c1.outWidth, 2);
  const c2 = new Conv2d(backend, registry.scope('conv2'), {
    inChannels: full.conv1, outChannels: full.conv2, kernel: 3, height: p1.outHeight, width: p1.outWidth,
  });
  const p2 = new MaxPool2d(backend, full.conv2, c2.outHeight, c2.outWidth, 2);
  const flat = full.conv2 * p2.outHeight * p2.outWidth;
  const network = new LayerNetwork(new Sequential(backend, [
    c1, p1, new ReLU(backend),
    c2, p2, new ReLU(backend),
    new Linear(backend, registry.scope('fc1'), flat, full.hidden), new ReLU(backend),
    new Linear(backend, registry.scope('fc2'), full.hidden, full.classes),
  ]));
  return new Model(backend, registry, network, {
    name: 'cnn', config: full, inputShape: [full.channels, full.height, full.width], inputKind: 'f32',
    targetsPerSample: 1, classes: full.classes,
  }, buffers);
}
