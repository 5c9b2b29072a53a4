import { Command } from 'commander';

export function graphCommand(): Command {
  return new Command('graph').description('Topologies and their spectral quantities.');
}
