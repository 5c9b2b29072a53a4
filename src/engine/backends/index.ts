/**
 * Backend selection. getBackend() returns the native addon's backend when it loads, else the TypeScript backend
 * (with one warning line on stderr, once per process). GOSSAMER_BACKEND=js|native|auto and an explicit choice
 * override this; asking for 'native' where the addon cannot load is a UsageError naming the reason.
 */
import { UsageError } from '../../core/errors.js';
import type { Backend } from '../backend.js';
import { jsBackend } from './js/index.js';

export type BackendName = 'js' | 'native';
export type BackendChoice = BackendName | 'auto';

interface NativeModule {
  loadNativeBackend?: () => Backend | null;
  /** Why the addon did not load, when the glue can tell. */
  nativeLoadError?: () => string;
}

let nativeModuleError = '';
// The glue module may be missing (no native build in this tree) or fail to import; both mean "no native backend".
const nativeModule: NativeModule | null = await (async () => {
  try {
    const specifier = './native/index.js';
    return (await import(specifier)) as NativeModule;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    nativeModuleError = code === 'ERR_MODULE_NOT_FOUND' && /native[\\/]index\./.test(message)
      ? 'it is not part of this build'
      : message;
    return null;
  }
})();

let nativeTried = false;
let nativeInstance: Backend | null = null;
let nativeReason = '';
let warned = false;

function tryNative(): Backend | null {
  if (nativeTried) return nativeInstance;
  nativeTried = true;
  if (!nativeModule) {
    nativeReason = `the native glue module did not load (${nativeModuleError})`;
    return null;
  }
  if (typeof nativeModule.loadNativeBackend !== 'function') {
    nativeReason = 'the native glue module exports no loadNativeBackend()';
    return null;
  }
  try {
    nativeInstance = nativeModule.loadNativeBackend() ?? null;
    if (!nativeInstance) {
      let detail = '';
      try {
        detail = typeof nativeModule.nativeLoadError === 'function' ? nativeModule.nativeLoadError() : '';
      } catch {
        detail = '';
      }
      nativeReason = detail || 'the native addon is not built or cannot load on this machine';
    }
  } catch (err) {
    nativeReason = `the native addon failed to load (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
    nativeInstance = null;
  }
  return nativeInstance;
}

function parseChoice(value: string, source: string): BackendChoice {
  if (value === 'js' || value === 'native' || value === 'auto') return value;
  throw new UsageError(`${source} must be js, native or auto (got "${value}")`);
}

export interface BackendOptions {
  /** 'auto' (the default): native when available, else js. */
  backend?: BackendChoice;
}

/**
 * The backend to compute with. Precedence: an explicit choice (other than 'auto'), then GOSSAMER_BACKEND, then
 * automatic selection.
 */
export function getBackend(options: BackendOptions | BackendChoice = {}): Backend {
  const explicit = typeof options === 'string' ? options : options.backend;
  let choice: BackendChoice = explicit === undefined ? 'auto' : parseChoice(explicit, 'backend');
  if (choice === 'auto') {
    const env = process.env.GOSSAMER_BACKEND;
    if (env !== undefined && env !== '') choice = parseChoice(env, 'GOSSAMER_BACKEND');
  }
  if (choice === 'js') return jsBackend();
  const native = tryNative();
  if (choice === 'native') {
    if (!native) throw new UsageError(`the native engine backend was requested but is unavailable: ${nativeReason}`);
    return native;
  }
  if (native) return native;
  if (!warned) {
    warned = true;
    process.stderr.write(`gossamer: native engine backend unavailable (${nativeReason}); using the TypeScript backend\n`);
  }
  return jsBackend();
}

/** Whether the native backend loads, and why not when it does not. */
export function nativeBackendStatus(): { available: boolean; reason: string } {
  const native = tryNative();
  return { available: native !== null, reason: native ? '' : nativeReason };
}

/** Every backend that loads here: js always, native when available (for tests and benchmarks). */
export function availableBackends(): Backend[] {
  const native = tryNative();
  return native ? [jsBackend(), native] : [jsBackend()];
}

export { jsBackend };
