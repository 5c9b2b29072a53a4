import { Command } from 'commander';

export function simCommand(): Command {
  return new Command('sim').description('Simulate asynchronous decentralized optimisation in virtual time.');
}
