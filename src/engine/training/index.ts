/**
 * Training of one worker: deterministic batch sources indexed by step, the local step and loop, text sampling.
 * Checkpoints are in ../checkpoint.ts.
 *
 *   trainStep(model, optimizer, batch, {schedule, clip}) → {loss, gradNorm, lr}   one local update
 *   trainLocal({model, optimizer, data, totalSteps, schedule, clip, evaluate, ...}) → result   the loop
 *   new ShuffledBatches(labeledData, seed, batchSize), new TextWindows(tokens, seq, seed, batchSize)
 *   textEvalData(tokens, seq, limit?) → LabeledData for Model.evaluate
 *   sampleText(model, prompt, {length, temperature, rng})
 */
export * from './batches.js';
export * from './loop.js';
export * from './sample.js';
