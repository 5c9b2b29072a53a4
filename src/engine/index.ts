/**
 * The Gossamer engine: layers with explicit forward/backward over flat parameter buffers, models, losses and
 * optimizers, computing through a Backend (native addon or TypeScript).
 *
 * API summary
 * -----------
 * Backends
 *   getBackend(opts?) → Backend            native when the addon loads, else js (one stderr warning);
 *                                          opts.backend / GOSSAMER_BACKEND = 'js' | 'native' | 'auto'
 *   availableBackends(), nativeBackendStatus(), jsBackend()
 *
 * Models
 *   createModel(name, opts) → Model        name: 'mlp' | 'cnn' | 'resnet20' | 'transformer'
 *     opts = model config (MlpConfig, CnnConfig, ResNetConfig, TransformerConfig; all optional, defaults are the
 *            reference workloads) + { backend?, seed?, params?, grads?, state?, shared?, initialize? }
 *     createModel(model.name, model.config) rebuilds the same layout.
 *   Model
 *     params / grads : Float32Array (one flat buffer each, same layout); state: Float32Array (BatchNorm stats)
 *     size, stateSize, layout (entries {name, shape, offset, size, kind: 'weight'|'bias'|'norm'|'embedding'}),
 *     stateLayout, layoutHash (sha256 hex of the canonical layout JSON)
 *     setParams(buf) / setGrads(buf) / setState(buf)   rebind every tensor view to another buffer (same size)
 *     initialize(seed) (PyTorch default inits), resetState(), tensor(name), gradient(name)
 *     inputShape, inputSize, inputKind ('f32' | 'i32' token ids), targetsPerSample, classes
 *     forward(inputs, train = false) → logits [batch · targetsPerSample, classes] (view owned by the model)
 *     lossAndGradient(inputs, targets: Int32Array) → mean loss; zeroes grads, forward (train), backward
 *     loss(inputs, targets, train = false) → mean loss;  predict(inputs) → Int32Array of classes
 *     evaluate({inputs, targets, count}, {batchSize, limit}) → {loss, accuracy, count}
 *
 * Optimizers (flat state exposed as `state` + `stateLayout`, `steps` counted, loadState(state, steps))
 *   new Sgd(model, {lr, momentum, nesterov, weightDecay, noDecay})   torch.optim.SGD semantics
 *   new AdamW(model, {lr, beta1, beta2, eps, weightDecay, noDecay}) torch.optim.AdamW semantics
 *   createOptimizer(model, {kind: 'sgd' | 'adamw', ...}); opt.lr = schedule(opt.steps); opt.step()
 *   noDecay: parameter kinds excluded from weight decay, e.g. NO_DECAY_BIAS_NORM = ['bias', 'norm']
 *   braking: Adaptive Braking's ρ (both optimizers; optim/braking.ts): each tensor's gradient scaled by
 *            1 − ρ·cos(gradient, momentum) before the momentum update; default 0 (off)
 *   clipGradNorm(backend, grads, maxNorm) → norm before clipping;  gradNorm(backend, grads)
 *   makeSchedule({kind: 'constant' | 'step' | 'cosine' | 'linear', lr, warmupSteps, totalSteps, minLr,
 *                 stepSize, gamma}) → (step) => lr
 *
 * A training step:
 *   const model = createModel('mlp', { seed: 1 });
 *   const opt = new Sgd(model, { lr: 0.1, momentum: 0.9 });
 *   const loss = model.lossAndGradient(x, y); clipGradNorm(model.backend, model.grads, 1); opt.step();
 *
 * Layers (for new models): Linear, Conv2d, MaxPool2d, GlobalAvgPool, BatchNorm2d, GroupNorm, LayerNorm, ReLU, GELU,
 * Dropout, Embedding, CausalSelfAttention, Sequential, BasicBlock, TransformerBlock; parameters are registered
 * through a Registry/Scope and bound by Model.
 */
export type { Backend, KernelName } from './backend.js';
export { KERNEL_NAMES } from './backend.js';
export { getBackend, availableBackends, nativeBackendStatus, jsBackend } from './backends/index.js';
export type { BackendChoice, BackendName, BackendOptions } from './backends/index.js';

export {
  Registry, Scope, Param, StateVar, layoutHash, canonicalLayoutJson, layoutOf,
  uniformInit, normalInit, constantInit, kaimingUniformDefault,
} from './layout.js';
export type { LayoutEntry, ParamKind, StateKind, Initializer, ModelIdentity } from './layout.js';

export { Layer, Slot, IntSlot } from './layers/layer.js';
export { Linear } from './layers/linear.js';
export { Conv2d, type Conv2dOptions } from './layers/conv.js';
export { MaxPool2d, GlobalAvgPool } from './layers/pool.js';
export { BatchNorm2d, GroupNorm, LayerNorm } from './layers/norm.js';
export { ReLU, GELU, Dropout } from './layers/activation.js';
export { Embedding } from './layers/embedding.js';
export { CausalSelfAttention } from './layers/attention.js';
export { Sequential } from './layers/sequential.js';

export { Model } from './models/model.js';
export type { Network, LabeledData, Evaluation, ModelSpec, ModelBuffers } from './models/model.js';
export { LayerNetwork } from './models/network.js';
export { createModel, isModelName, MODEL_NAMES, MODEL_CONFIG_KEYS } from './models/index.js';
export type { ModelName, ModelConfigs, CreateModelOptions } from './models/index.js';
export { createMlp, type MlpConfig } from './models/mlp.js';
export { createCnn, type CnnConfig } from './models/cnn.js';
export { createResNet, BasicBlock, type ResNetConfig } from './models/resnet.js';
export { createTransformer, TransformerBlock, type TransformerConfig } from './models/transformer.js';

export * from './optim/index.js';
