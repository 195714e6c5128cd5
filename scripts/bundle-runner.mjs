// The single-file runner (part of `npm run build`): `ccg runner start`, `ccg machine start` and
// `ccg machine install` with every dependency inlined, so a machine with Node and nothing else
// can run it (`node ccg-runner.mjs machine start …`). The gateway serves it with its SHA-256
// (server/http/runner-file.ts). Left out: the optional native pty addon (`--pty` needs
// @lydell/node-pty installed beside it) and ws's optional native speed-ups.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const version = JSON.parse(readFileSync('package.json', 'utf8')).version;
mkdirSync('dist/runner', { recursive: true });
await build({
  stdin: { contents: "import { runnerMain } from './dist/cli/runner-main.js'; process.exitCode = await runnerMain(process.argv.slice(2));", resolveDir: process.cwd(), sourcefile: 'ccg-runner-entry.js' },
  outfile: 'dist/runner/ccg-runner.mjs',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'eof',
  logLevel: 'warning',
  external: ['@lydell/node-pty', 'bufferutil', 'utf-8-validate'],
  // ESM output, CommonJS dependencies (ws): give them a require.
  banner: { js: "import { createRequire as __ccgCreateRequire } from 'node:module'; const require = __ccgCreateRequire(import.meta.url);" },
  plugins: [
    {
      name: 'ccg-version',
      setup(b) {
        // No package.json beside the single file: the version is written in.
        b.onLoad({ filter: /[\\/]cli[\\/]version\.js$/ }, () => ({ contents: `export const VERSION = ${JSON.stringify(version)};` }));
      },
    },
  ],
});
const sum = createHash('sha256').update(readFileSync('dist/runner/ccg-runner.mjs')).digest('hex');
writeFileSync('dist/runner/ccg-runner.mjs.sha256', `${sum}  ccg-runner.mjs\n`);
