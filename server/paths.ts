import { fileURLToPath } from 'node:url';

/** The package root (compiled code lives in dist/server, templates in views/). */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
