/** The worker threads' tests' data: Gaussian clusters (16 features, 4 classes), 2000 to train on and 400 held out. */
import type { ImageDataset } from '../../src/data/dataset.js';
import { syntheticClassification } from '../../src/data/synthetic.js';

const all = syntheticClassification({ n: 2400, features: 16, classes: 4, seed: 11, noise: 1.5, separation: 1 });
const split = (from: number, to: number, name: string): ImageDataset => ({
  ...all, name, images: all.images.subarray(from * 16, to * 16), labels: all.labels.subarray(from, to), n: to - from,
});

export const clusterData = { train: split(0, 2000, 'clusters-train'), test: split(2000, 2400, 'clusters-test') };
