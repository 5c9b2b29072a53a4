import type { Backend } from '../backend.js';
import { ReLU, Dropout } from '../layers/activation.js';
import type { Layer } from '../layers/layer.js';
import { Linear } from '../layers/linear.js';
import { Sequential } from '../layers/sequential.js';
import { Registry } from '../layout.js';
import { Model, type ModelBuffers } from './model.js';
import { LayerNetwork } from './network.js';

export interface MlpConfig {
  /** Input features (default 784). */
  inputSize?: number;
  /** Hidden layer widths (default [512, 512]). */
  hidden?: number[];
  /** Output classes (default 10). */
  classes?: number;
  /** Dropout after each hidden ReLU (default 0). */
  dropout?: number;
}

/** Multi-layer perceptron: (Linear → ReLU [→ Dropout]) per hidden width, then Linear to the classes. */
export function createMlp(backend: Backend, config: MlpConfig = {}, buffers: ModelBuffers = {}): Model {
  const full = {
    inputSize: config.inputSize ?? 784,
    hidden: [...(config.hidden ?? [512, 512])],
    classes: config.classes ?? 10,
    dropout: config.dropout ?? 0,
  };
  const registry = new Registry(buffers.seed ?? 0);
  const layers: Layer[] = [];
  let width = full.inputSize;
  full.hidden.forEach((h, i) => {
    layers.push(new Linear(backend, registry.scope(`fc${i + 1}`), width, h), new ReLU(backend));
    if (full.dropout > 0) layers.push(new Dropout(backend, full.dropout, registry.scope(`fc${i + 1}`).rng('dropout')));
    width = h;
  });
  layers.push(new Linear(backend, registry.scope(`fc${full.hidden.length + 1}`), width, full.classes));
  const network = new LayerNetwork(new Sequential(backend, layers));
  return new Model(backend, registry, network, {
    name: 'mlp', config: full, inputShape: [full.inputSize], inputKind: 'f32', targetsPerSample: 1, classes: full.classes,
  }, buffers);
}
