import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXIT, exitForCode } from '../../cli/exit-codes.js';
import { ERRORS } from '../../protocol/errors.js';
import { runCli } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const doc = (name: string) => readFileSync(join(ROOT, 'docs', name), 'utf8');

/** The CLI's TypeScript sources (the TUI is not a scripting surface). */
function cliSources(dir = join(ROOT, 'cli')): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'tui' ? [] : cliSources(p);
    return name.endsWith('.ts') ? [readFileSync(p, 'utf8')] : [];
  });
}

test("docs/CI.md names every error code the CLI makes itself, and every exit code", () => {
  const ci = doc('CI.md');
  const own = new Set(cliSources().flatMap((src) => [...src.matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1]!)).filter((c) => !(c in ERRORS)));
  assert.ok(own.has('ERR_CLI'));
  for (const code of own) assert.ok(ci.includes(`\`${code}\``), `docs/CI.md does not name ${code}`);
  for (const [name, code] of Object.entries(EXIT)) if (name !== 'CANCELLED') assert.match(ci, new RegExp(`^\\| ${code} \\|`, 'm'), `exit ${code} (${name}) in CI.md's table`);
});

test('docs/OPERATIONS.md names only flags the program has', () => {
  const sources = cliSources().join('\n');
  const others = new Set(['--restart']); // docker's
  const flags = new Set([...doc('OPERATIONS.md').matchAll(/(?:^|[\s`(])(--[a-z][a-z0-9-]+)/g)].map((m) => m[1]!));
  assert.ok(flags.size > 10);
  for (const flag of flags) {
    if (others.has(flag)) continue;
    assert.ok(new RegExp(`['",]${flag}['",]`).test(sources), `OPERATIONS.md names ${flag}, which no ccg command has`);
  }
});

test('QUICKSTART: no token typed into the shell history; the printed command says how to keep it out', () => {
  const q = doc('QUICKSTART.md');
  assert.doesNotMatch(q, /^export CCG_RUN_TOKEN=ccgr_/m);
  assert.match(q, /pasted as it is lands in your\s+shell history/);
  assert.match(q, /read -rs CCG_RUN_TOKEN/);
});

test('a missing approval exits 66, as CI.md says of anything asked for that does not exist', async (t) => {
  assert.equal(exitForCode('ERR_APPROVAL_NOT_FOUND'), EXIT.NOT_FOUND);
  const g = await startGateway();
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as { id: string };
  const r = await runCli(['runs', 'approve', run.id, 'appr_cccccccccccccccc', '--json'], g.env);
  assert.equal(r.code, 66, r.stderr);
  assert.equal((JSON.parse(r.stderr) as { error: { code: string } }).error.code, 'ERR_APPROVAL_NOT_FOUND');
  assert.match(doc('CI.md'), /^\| 66 \|.*`ERR_APPROVAL_NOT_FOUND`/m);
});
