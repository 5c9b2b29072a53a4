/**
 * Starting the threads of a cluster. From the compiled package a thread runs its .js module directly. From source,
 * worker threads on Node 20 do not inherit tsx's module hooks, and registering them in every thread costs seconds
 * when a dozen threads start at once on two cores; so the source tree is transpiled once per process with esbuild
 * (tsx's own compiler) into a mirror of plain ES modules under node_modules/.cache (where the project's packages
 * still resolve), each module keeping its own import.meta.url (the native addon and the data files are found
 * relative to it). Without esbuild, each thread registers tsx itself.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type TransferListItem } from 'node:worker_threads';

/** The URL of a sibling module of this file (.ts from source, .js once compiled). */
export function siblingModule(name: string): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, import.meta.url);
}

/**
 * V8's young generation of a thread, MB. A thread's JavaScript allocates little (its vectors live in typed arrays
 * outside the heap), and by default V8 lets the young generation of each isolate grow to 48 MB (3 × 16 MB
 * semi-spaces): with 16 threads in a cluster of 8 workers that was hundreds of MB of RSS for nothing.
 */
export const THREAD_YOUNG_GENERATION_MB = 3;

let mirror: Promise<string | null> | null = null;

function listSources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) listSources(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Removes the mirrors of processes that are gone (killed before their exit hook could run). */
export function removeOrphanMirrors(cache: string): void {
  for (const name of readdirSync(cache)) {
    const pid = Number(/^threads-(\d+)-/.exec(name)?.[1] ?? NaN);
    // older mirrors carry no pid: removed too (a mirror is only read while its process starts threads)
    if (Number.isInteger(pid) && isAlive(pid)) continue;
    rmSync(join(cache, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Transpiles the source tree (the directory above this module) into a fresh mirror; its root, or null. */
async function transpileSources(): Promise<string | null> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    return null;
  }
  const srcRoot = fileURLToPath(new URL('../', import.meta.url));
  const cache = join(dirname(srcRoot), 'node_modules', '.cache', 'gossamer');
  mkdirSync(cache, { recursive: true });
  removeOrphanMirrors(cache);
  const dir = mkdtempSync(join(cache, `threads-${process.pid}-`));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  await esbuild.build({
    entryPoints: listSources(srcRoot), outbase: srcRoot, outdir: dir, bundle: false, platform: 'node', format: 'esm',
    target: 'node20', logLevel: 'silent', sourcemap: 'inline',
    plugins: [{
      name: 'module-url',
      setup(build) {
        build.onLoad({ filter: /\.ts$/ }, (args) => ({
          contents: readFileSync(args.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
          loader: 'ts',
        }));
      },
    }],
  });
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  return dir;
}

/** Prepares the thread modules (once per process from source) and returns a spawner. */
export async function threadSpawner(modules: URL[]): Promise<(module: URL, workerData: unknown, transferList?: TransferListItem[], name?: string) => Worker> {
  const fromSource = modules.some((m) => m.pathname.endsWith('.ts'));
  const root = fromSource ? await (mirror ??= transpileSources().catch(() => null)) : null;
  const srcRoot = fileURLToPath(new URL('../', import.meta.url));
  return (module, workerData, transferList = [], name) => {
    const options = { workerData, transferList, name, stdout: false, stderr: false, resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB } } as const;
    if (!module.pathname.endsWith('.ts')) return new Worker(module, options);
    if (root) return new Worker(pathToFileURL(join(root, relative(srcRoot, fileURLToPath(module)).replace(/\.ts$/, '.js'))), options);
    const api = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(module.href)}); });`;
    return new Worker(code, { ...options, eval: true });
  };
}
