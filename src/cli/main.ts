#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { UsageError } from '../core/errors.js';
import { graphCommand } from './graph.js';
import { peerCommand } from './peer.js';
import { reportCommand } from './report.js';
import { simCommand } from './sim.js';
import { trainCommand } from './train.js';
import { VERSION } from './version.js';

const program = new Command('gossamer')
  .description('Asynchronous decentralized training: A2CiD2 and its family, simulated and for real.')
  .version(VERSION, '-V, --version', 'print the version')
  .option('--verbose', 'print stack traces on errors')
  .exitOverride();

for (const command of [graphCommand(), simCommand(), trainCommand(), peerCommand(), reportCommand()]) {
  program.addCommand(command.exitOverride());
}

function fail(message: string, code: number, error?: unknown): never {
  process.stderr.write(`gossamer: ${message}\n`);
  if (process.argv.includes('--verbose') && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exit(code);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version arrive here as "errors" with exit code 0; commander already printed its message.
    process.exit(error.exitCode === 0 ? 0 : 2);
  }
  if (error instanceof UsageError) fail(error.message, 2, error);
  fail(error instanceof Error ? error.message : String(error), 1, error);
}
