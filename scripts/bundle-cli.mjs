// Bundles the client CLI (everything but `ccg serve`) from tsc's output into dist/bundle/, the
// second half of `npm run build`. Why: a script's `ccg runs approve` is mostly start-up, and
// start-up was mostly Node resolving and compiling ~180 small ESM files (zod alone is 95). One
// minified entry plus lazily loaded chunks (each command's code is still loaded only when it
// runs, cli/command-table.ts) halves that. `npm run bench -- --only cli` measures it.
//
// What stays outside the bundle, loaded from node_modules as before:
// - every package except zod and clipanion: native addons (lmdb, uWebSockets.js, node-pty), Ink
//   (cli/tui reaches into its reconciler by path) and the rest load only on the paths that need
//   them, so bundling them buys nothing;
// - zod's 40 translated error-message locales (366 KB of the 760 KB zod would add): the namespace
//   import `z` keeps every export alive, and ccg's messages are English. The stand-in module
//   below exports English only.
//
// The chunks sit two directories deep (dist/bundle/), as tsc's files do (dist/cli/), so the
// `new URL('../../…', import.meta.url)` paths in the code (package.json, static assets) still
// resolve to the package root. `ccg serve` keeps tsc's files (bin/ccg): its start-up is not on
// anyone's hot path and its stack traces stay readable.
import { build } from 'esbuild';
import { rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const INLINE = /^(zod|clipanion)(\/|$)/;
const ZOD_LOCALES = 'zod-locales-en-only';
// The plans the CLI checks answers with instead of zod (cli/client/plans.ts), computed now from
// the zod schemas and written into the bundle as data: `ccg runs list` then loads no zod at all.
const PLANS_JS = resolve('dist/cli/client/plans.js');
const { PLANS } = await import(pathToFileURL(PLANS_JS).href);

rmSync('dist/bundle', { recursive: true, force: true });
const { metafile } = await build({
  entryPoints: { main: 'dist/cli/main.js' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  sourcemap: 'linked', // node --enable-source-maps bin/ccg … maps a stack trace back to dist/cli
  logLevel: 'warning',
  metafile: true,
  plugins: [
    {
      name: 'ccg-cli',
      setup(b) {
        b.onResolve({ filter: /\/locales\/index\.js$/ }, (a) =>
          a.importer.includes(`${'node_modules'}/zod/`) ? { path: ZOD_LOCALES, namespace: ZOD_LOCALES } : undefined,
        );
        b.onLoad({ filter: /.*/, namespace: ZOD_LOCALES }, () => ({
          contents: "export { default as en } from 'zod/v4/locales/en.js';",
          resolveDir: process.cwd(),
        }));
        b.onLoad({ filter: /[\\/]plans\.js$/ }, (a) => (a.path === PLANS_JS ? { contents: `export const PLANS = ${JSON.stringify(PLANS)};`, loader: 'js' } : undefined));
        b.onResolve({ filter: /^[^./]/ }, (a) => (INLINE.test(a.path) || a.namespace === ZOD_LOCALES ? undefined : { path: a.path, external: true }));
      },
    },
  ],
});
// Which source files each output holds: test/cli/help.test.ts reads it to prove that a command
// loads only its own code.
writeFileSync('dist/bundle/meta.json', JSON.stringify(metafile));
