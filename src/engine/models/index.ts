import { UsageError } from '../../core/errors.js';
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

/** The configuration keys each model accepts (anything else is a mistake worth reporting). */
export const MODEL_CONFIG_KEYS: { readonly [N in ModelName]: readonly (keyof ModelConfigs[N])[] } = {
  mlp: ['inputSize', 'hidden', 'classes', 'dropout'],
  cnn: ['channels', 'height', 'width', 'conv1', 'conv2', 'hidden', 'classes'],
  resnet20: ['channels', 'height', 'width', 'classes', 'baseWidth', 'blocksPerStage', 'norm', 'groups'],
  transformer: ['vocab', 'seq', 'dim', 'heads', 'layers', 'mlpRatio', 'dropout'],
};

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
  if (!isModelName(name)) throw new UsageError(`unknown model ${String(name)} (known: ${MODEL_NAMES.join(', ')})`);
  const config: Record<string, unknown> = { ...options };
  for (const key of BUFFER_KEYS) delete config[key];
  const known = MODEL_CONFIG_KEYS[name] as readonly string[];
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) {
      delete config[key];
      continue;
    }
    if (!known.includes(key)) throw new UsageError(`model ${name} has no option "${key}" (options: ${known.join(', ')})`);
    const ok = key === 'hidden' && name === 'mlp'
      ? Array.isArray(value) && value.every((v) => Number.isInteger(v) && v > 0)
      : key === 'norm'
        ? value === 'batch' || value === 'group'
        : typeof value === 'number' && Number.isFinite(value) && (key === 'dropout' ? value >= 0 && value < 1 : Number.isInteger(value) && value > 0);
    if (!ok) throw new UsageError(`model ${name}: option ${key} has an invalid value ${JSON.stringify(value)}`);
  }
  if (name === 'resnet20' && config.groups !== undefined && config.norm !== 'group') {
    throw new UsageError(`model resnet20: option groups needs norm "group"`);
  }
  switch (name) {
    case 'mlp': return createMlp(backend, config as MlpConfig, buffers);
    case 'cnn': return createCnn(backend, config as CnnConfig, buffers);
    case 'resnet20': return createResNet(backend, config as ResNetConfig, buffers);
    case 'transformer': return createTransformer(backend, config as TransformerConfig, buffers);
    default: throw new UsageError(`unknown model ${String(name)} (known: ${MODEL_NAMES.join(', ')})`);
  }
}
