/** The package's own version (src/cli and dist/cli are both two levels below package.json). */
import { createRequire } from 'node:module';

export const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
