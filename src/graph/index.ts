export * from './topology.js';
export * from './rates.js';
export * from './spectral.js';
export * from './acid.js';
export * from './partners.js';
