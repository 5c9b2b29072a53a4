/**
 * Starting the threads of a cluster. From the compiled package a thread runs its .js module directly; from source
 * (tsx), a worker thread does not inherit tsx's module hooks on Node 20, so the thread first registers them and
 * then imports its TypeScript module.
 */
import { Worker, type TransferListItem } from 'node:worker_threads';

export function spawnThread(module: URL, workerData: unknown, transferList: TransferListItem[] = [], name?: string): Worker {
  const options = { workerData, transferList, name, stdout: false, stderr: false } as const;
  if (!module.pathname.endsWith('.ts')) return new Worker(module, options);
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(module.href)}); });`;
  return new Worker(code, { ...options, eval: true });
}

/** The URL of a sibling module of this file (.ts from source, .js once compiled). */
export function siblingModule(name: string): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, import.meta.url);
}
