/** Datasets, sharding and batching. */
export * from './dataset.js';
export * from './idx.js';
export * from './mnist.js';
export * from './text.js';
export * from './synthetic.js';
export * from './shard.js';
export * from './batch.js';
