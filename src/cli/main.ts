#!/usr/bin/env node
// The entry: settings of the process that must come before the program's modules load, then the program.
import { keepYoungGenerationSmall } from './young-generation.js';

if (process.argv.slice(2).find((a) => !a.startsWith('-')) === 'peer') keepYoungGenerationSmall();
await import('./program.js');
