/**
 * Gossamer as a library: `import { simulate, runCluster, buildAlgorithm, ... } from 'gossamer'`. The commands of
 * the CLI are thin layers over these (src/cli); what they add — flags, run directories, progress bars, signals —
 * stays there.
 *
 *   Graphs        makeTopology, TOPOLOGIES, Graph
 *   Algorithms    buildAlgorithm, ALGORITHMS, and the interface an algorithm implements (Algorithm and its
 *                 capabilities: docs/algorithms.md, README "Writing an algorithm")
 *   Objectives    makeObjective, problemNames, Quadratic (and the Objective interface)
 *   Simulator     simulate: virtual time, bit-for-bit reproducible
 *   Runtime       runCluster: worker threads of this process, wall-clock time
 *   Engine        createModel, trainLocal (one worker), checkpoints (saveCheckpoint, readCheckpoint), data sets
 *   Recipes       recipe: the defaults every command trains with
 */
export { makeTopology, TOPOLOGIES, type Graph } from './graph/topology.js';
export { buildAlgorithm, ALGORITHMS, type AlgorithmName, type AlgorithmSetup, type Built } from './algorithms/index.js';
export type {
  Algorithm, WorkerState, SavedState, GradientSource, PairwiseCapability, CollectiveCapability, ServerCapability, ServerRole, Push, Pulled,
} from './algorithms/types.js';
export { LocalOptimizer, type LocalStepSettings } from './algorithms/local-optimizer.js';
export { makeObjective, problemNames, type ProblemOptions } from './objectives/index.js';
export type { Objective } from './objectives/objective.js';
export { Quadratic } from './objectives/quadratic.js';
export { simulate, type SimOptions, type SimSummary, type LinkModel } from './sim/simulator.js';
export { runCluster } from './runtime/cluster.js';
export type { ClusterConfig, ClusterSummary, ClusterAlgorithm } from './runtime/cluster-config.js';
export { createModel, MODEL_NAMES, type ModelName } from './engine/models/index.js';
export type { Model } from './engine/models/model.js';
export { trainLocal, type TrainLocalOptions, type TrainLocalResult } from './engine/training/loop.js';
export { loadTrainingData, evaluate, DATASETS, type DatasetName, type TrainingData } from './engine/training/data.js';
export { saveCheckpoint, readCheckpoint, restoreModel, modelFromCheckpoint, type Checkpoint } from './engine/checkpoint.js';
export { recipe, type Recipe } from './config/recipe.js';
export { CODECS, type Codec } from './core/codecs.js';
export { UsageError } from './core/errors.js';
export type { MetricsRow } from './report/metrics.js';
