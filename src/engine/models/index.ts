import type { Backend } from '../backend.js';
import { getBackend, type BackendChoice } from '../backends/index.js';
import { createCnn, type CnnConfig } from './cnn.js';
import { createMlp, type MlpConfig } from './mlp.js';
import type { Model, ModelBuffers } from './model.js';
import { createResNet, type ResNetConfig } from './resnet.js';
import { createTransformer, type TransformerConfig } from './transformer.js';

export interface ModelConfigs {
  mlp: MlpConfig;
  cnn: CnnConfig;
  resnet20: ResNetConfig;
  transformer: TransformerConfig;
}

export type ModelName = keyof ModelConfigs;
export const MODEL_NAMES: readonly ModelName[] = ['mlp', 'cnn', 'resnet20', 'transformer'];

/** Options of createModel: the model's own configuration, its buffers/seed, and the backend to compute with. */
export type CreateModelOptions<N extends ModelName> = ModelConfigs[N] & ModelBuffers & {
  /** A backend instance, or a choice passed to getBackend() (default: getBackend()). */
  backend?: Backend | BackendChoice;
};

const BUFFER_KEYS = ['params', 'grads', 'state', 'shared', 'initialize', 'seed', 'backend'] as const;

export function isModelName(name: string): name is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(name);
}

/**
 * Builds a registered model. `createModel(model.name, model.config)` rebuilds a model with the same layout.
 */
export function createModel<N extends ModelName>(name: N, options: CreateModelOptions<N> = {} as CreateModelOptions<N>): Model {
  const backend = typeof options.backend === 'object' ? options.backend : getBackend({ backend: options.backend });
  const buffers: ModelBuffers = {
    params: options.params, grads: options.grads, state: options.state,
    shared: options.shared, initialize: options.initialize, seed: options.seed,
  };
  const config: Record<string, unknown> = { ...options };
  for (const key of BUFFER_KEYS) delete config[key];
  switch (name) {
    case 'mlp': return createMlp(backend, config as MlpConfig, buffers);
    case 'cnn': return createCnn(backend, config as CnnConfig, buffers);
    case 'resnet20': return createResNet(backend, config as ResNetConfig, buffers);
    case 'transformer': return createTransformer(backend, config as TransformerConfig, buffers);
    default: throw new Error(`unknown model ${String(name)} (known: ${MODEL_NAMES.join(', ')})`);
  }
}
