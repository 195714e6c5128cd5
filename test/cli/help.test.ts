import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { COMMANDS, commandName } from '../../cli/command-table.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { CCG_BIN } from '../helpers/processes.js';

test('the command table agrees with every command class: paths, category, description', async () => {
  for (const entry of COMMANDS) {
    const cls = await entry.load();
    assert.deepEqual(cls.paths, entry.paths, commandName(entry));
    assert.equal(cls.usage?.category, entry.category, commandName(entry));
    assert.equal(cls.usage?.description, entry.description, commandName(entry));
  }
});

test('every command\u2019s details survive clipanion\u2019s reflow: no line starts with an option, no column table, a list item on one line', async () => {
  // clipanion joins a paragraph's lines, takes a line starting with "-" for a list item that
  // ends there, and collapses aligned columns: "--choose … repeat it to" then "pick several"
  // came out as two paragraphs, and the mode table as one line.
  for (const c of COMMANDS) {
    const lines = ((await c.load()).usage?.details ?? '').split('\n');
    const base = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
    for (const l of lines) {
      const t = l.trim();
      const where = `${commandName(c)}: ${JSON.stringify(t)}`;
      assert.ok(!(t.startsWith('-') && !t.startsWith('- ')), `a line starting with an option is read as a list item: ${where}`);
      assert.ok(!/\S {2,}\S/.test(t), `columns are collapsed: ${where}`);
      assert.ok(!t || l.length - l.trimStart().length === base, `a deeper line (a list item's continuation, an unindented insert) breaks the text: ${where}`);
    }
  }
});

test('ccg runs --help and ccg help runs list the group once each, with named option values', async () => {
  for (const argv of [['runs', '--help'], ['runs', '-h'], ['help', 'runs']]) {
    const r = await runCli(argv);
    assert.equal(r.code, 0, argv.join(' '));
    assert.equal(r.stderr, '');
    for (const e of COMMANDS.filter((c) => c.paths[0]![0] === 'runs')) {
      const lines = r.stdout.split('\n').filter((l) => new RegExp(`^  ccg ${commandName(e)}( |$)`).test(l));
      assert.equal(lines.length, 1, `${commandName(e)} once in: ${r.stdout}`);
    }
    assert.doesNotMatch(r.stdout, /Multiple commands match|#\d/);
    assert.match(r.stdout, /ccg runs approve <RUN_ID> <APPROVAL_ID>/);
  }
  const policy = await runCli(['policy', '--help']);
  assert.match(policy.stdout, /ccg policy show\n.*\(also: ccg policy\)/);
  assert.match(policy.stdout, /ccg policy set\n/);
});

test('a command’s help names every option value; ccg help and ccg help COMMAND work', async () => {
  const detail = await runCli(['runs', 'list', '--help']);
  assert.equal(detail.code, 0);
  assert.match(detail.stdout, /--gateway URL +Gateway URL/);
  assert.match(detail.stdout, /--status STATUS +Only runs/);
  assert.match(detail.stdout, /--limit N +At most/);
  assert.doesNotMatch(detail.stdout, /#\d/);
  assert.equal((await runCli(['help', 'runs', 'list'])).stdout, detail.stdout);
  for (const e of COMMANDS) {
    const r = await runCli([...e.paths[0]!, '--help']);
    assert.equal(r.code, 0, commandName(e));
    assert.doesNotMatch(r.stdout, /#\d/, `${commandName(e)} --help: ${r.stdout}`);
  }

  // `ccg serve` has its own entry (cli/serve-main.ts): its help names option values too.
  const serve = await loadedModules(['serve', '--help']);
  assert.equal(serve.code, 0);
  assert.match(serve.stdout, /--port PORT +Port/);
  assert.doesNotMatch(serve.stdout, /#\d/);

  const general = await runCli(['help']);
  assert.equal(general.code, 0);
  assert.equal(general.stdout, (await runCli(['--help'])).stdout);
  assert.equal(general.stdout, (await runCli([])).stdout);
  for (const e of COMMANDS) assert.ok(general.stdout.includes(`ccg ${commandName(e)} `), commandName(e));
  assert.match(general.stdout, /77 authentication/);
});

test('ccg --version --json and --help --json answer as without --json (a version object, the help), not "unknown command"; --json=true gets a JSON usage error', async () => {
  const v = await runCli(['--version', '--json'], {});
  assert.equal(v.code, 0, v.stderr);
  assert.match((JSON.parse(v.stdout) as { version: string }).version, /^\d+\.\d+\.\d+/);
  const h = await runCli(['--help', '--json'], {});
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /^ccg — Claude Code connect-back gateway/);
  // A script's `--json=true` gets its usage error as JSON too.
  const eq = await runCli(['runs', 'list', '--json=true'], {});
  assert.equal(eq.code, 1);
  assert.equal(JSON.parse(eq.stderr).error.code, 'ERR_USAGE');
});

test('a mistyped command suggests the nearest one on stderr, exit 1', async () => {
  const r = await runCli(['runs', 'lst']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'ccg: unknown command "runs lst": did you mean `ccg runs list`? (see ccg runs --help)\n');
  const j = await runCli(['runs', 'aprove', 'x', 'y', '--json']);
  assert.equal(j.code, 1);
  assert.deepEqual(JSON.parse(j.stderr), { error: { code: 'ERR_USAGE', message: 'unknown command "runs aprove": did you mean `ccg runs approve`? (see ccg runs --help)', exit: 1 } });
  assert.match((await runCli(['dcotor'])).stderr, /did you mean `ccg doctor`\?/);
  assert.match((await runCli(['help', 'runs', 'lst'])).stderr, /did you mean `ccg runs list`\?/);
  const far = await runCli(['runs', 'xyzzyq']);
  assert.equal(far.code, 1);
  assert.equal(far.stderr, 'ccg: unknown command "runs xyzzyq" (see ccg runs --help)\n');
  // A known command with a bad argument keeps clipanion's own message.
  assert.match((await runCli(['runs', 'show'])).stderr, /^ccg: Not enough positional arguments.*\(see ccg runs show --help\)\n$/);
  // A mistyped subcommand of a group is never read as the command to run (`runner strat` ran
  // "strat", and used up the run's one start).
  const strat = await runCli(['runner', 'strat', '--run-id', '7k2m9x4q3w8z', '--', 'true']);
  assert.equal(strat.code, 1);
  assert.equal(strat.stderr, 'ccg: unknown command "runner strat": did you mean `ccg runner start`? (see ccg runner --help)\n');
  assert.equal((await runCli(['runner'])).stderr, 'ccg: "runner" needs a command: `ccg runner start` (see ccg runner --help)\n');
  // …and an option's value is not taken for the subcommand.
  assert.equal((await runCli(['runner', '--run-id', '7k2m9x4q3w8z', '--', 'true'])).stderr, 'ccg: "runner" needs a command: `ccg runner start` (see ccg runner --help)\n');
  // An option's value is not part of the command's name.
  assert.match((await runCli(['runs', 'list', '--limit', '5', '--bogus'])).stderr, /^ccg: Unsupported option name \("--bogus"\).*\(see ccg runs list --help\)\n$/);
  assert.match((await runCli(['runs', '--limit', '5', '--bogus'])).stderr, /\(see ccg runs --help\)\n$/);
  assert.match((await runCli(['serve', '--port', '0', '--bogus'])).stderr, /\(see ccg serve --help\)\n$/);
});

/** Runs bin/ccg with a module hook that lists every module it loads. */
async function loadedModules(argv: string[], env: Record<string, string> = {}): Promise<{ code: number | null; modules: string[]; stdout: string }> {
  const dir = tempDir('ccg-modules-');
  writeFileSync(join(dir, 'hooks.mjs'), `export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('MODULE ' + r.url + '\\n'); return r; }\n`);
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
  // Spawned, not spawnSync: the gateway these commands talk to runs in this process.
  const child = spawn(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, CCG_BIN, ...argv], {
    env: { PATH: process.env['PATH'], HOME: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, modules: unbundled([...stderr.matchAll(/^MODULE (\S+)$/gm)].map((m) => m[1]!)) };
}

/**
 * bin/ccg runs the bundle (scripts/bundle-cli.mjs): each loaded bundle file stands for the
 * compiled files it holds, as its build's metafile lists them, so the checks below read the same
 * with or without bundling.
 */
function unbundled(urls: string[]): string[] {
  const root = new URL('../../../', import.meta.url).href; // the package root, from dist/test/cli/
  const outputs = (JSON.parse(readFileSync(new URL('dist/bundle/meta.json', root), 'utf8')) as { outputs: Record<string, { inputs: Record<string, unknown> }> }).outputs;
  return [...new Set(urls)].flatMap((url) => {
    const output = url.startsWith(root) ? outputs[url.slice(root.length)] : undefined;
    return output ? Object.keys(output.inputs).map((input) => root + input) : [url];
  });
}

test('ccg --version and --help load no command; runs list and runs approve load only their own', async (t) => {
  const commandModules = (mods: string[]) => mods.filter((m) => m.includes('/dist/cli/commands/')).map((m) => m.replace(/.*\/dist\/cli\/commands\//, ''));
  const heavy = (mods: string[]) => mods.filter((m) => /\/node_modules\/(ink|react|ws|lmdb|uWebSockets\.js|@lydell|markdown-it|qrcode|web-push)\//.test(m) || /\/dist\/(server|cli\/tui|cli\/runner)\//.test(m));

  const version = await loadedModules(['--version']);
  assert.equal(version.code, 0);
  assert.deepEqual(commandModules(version.modules), []);
  assert.deepEqual(version.modules.filter((m) => /clipanion|zod/.test(m)), []);
  const help = await loadedModules(['--help']);
  assert.equal(help.code, 0);
  assert.deepEqual(commandModules(help.modules), []);
  assert.deepEqual(help.modules.filter((m) => /clipanion|zod/.test(m)), []);

  const g = await startGateway();
  t.after(() => g.close());
  const list = await loadedModules(['runs', 'list', '--json'], g.env);
  assert.equal(list.code, 0);
  assert.deepEqual(commandModules(list.modules).sort(), ['base.js', 'runs/list.js']);
  assert.deepEqual(heavy(list.modules), []);
  const approve = await loadedModules(['runs', 'approve', 'zzzzzzzzzzzz', 'x'], g.env);
  assert.equal(approve.code, 66);
  assert.deepEqual(commandModules(approve.modules).sort(), ['base.js', 'runs/approve.js', 'runs/args.js']);
  assert.deepEqual(heavy(approve.modules), []);

  // Nor zod or the protocol's schemas: the answers are checked by their plans
  // (protocol/plan-parse.ts), and zod loads only when a plan is unsure.
  const schemas = (mods: string[]) => mods.filter((m) => /\/node_modules\/zod\//.test(m) || /\/dist\/protocol\/(api|run|claude-\w+|operator-messages)\.js$/.test(m) || /\/dist\/cli\/config(-schema)?\.js$/.test(m));
  assert.deepEqual(schemas(list.modules), []);
  assert.deepEqual(schemas(approve.modules), []);
  const approveBadRun = await loadedModules(['runs', 'approve', 'nosuchrun000', 'aJx2bbbbbbbbbbbbbbbbbbbbbb'], g.env);
  assert.equal(approveBadRun.code, 66);
  assert.deepEqual(schemas(approveBadRun.modules), []);
  // With the login `ccg login` saved instead of CCG_* variables: the saved file is checked the same way.
  const home = tempDir('ccg-saved-login-');
  mkdirSync(join(home, 'ccg'), { recursive: true });
  writeFileSync(join(home, 'ccg', 'config.json'), JSON.stringify({ gateway: g.env['CCG_GATEWAY'], fingerprint: g.env['CCG_FINGERPRINT'] || null, token: g.env['CCG_TOKEN'], savedAt: new Date().toISOString() }));
  const listSaved = await loadedModules(['runs', 'list', '--json'], { XDG_CONFIG_HOME: home });
  assert.equal(listSaved.code, 0);
  assert.equal(listSaved.stdout, list.stdout);
  assert.deepEqual(schemas(listSaved.modules), []);
});
