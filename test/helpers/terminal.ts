import type { TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import type { CreateRunResponse } from '../../protocol/api.js';
import { runCli } from './cli.js';
import { tempDir, type TestGateway } from './gateway.js';
import { spawnCcg, waitFor, type Proc } from './processes.js';

/** A run created through the CLI and a real runner in a pty running `argv`. */
export async function ptyRun(t: TestContext, g: TestGateway, argv: string[], opts: { size?: string; cwd?: string; env?: Record<string, string>; args?: string[] } = {}): Promise<{ run: CreateRunResponse; runner: Proc }> {
  const run = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--spool-dir', tempDir(), '--quiet', '--pty', '--pty-size', opts.size ?? '60x20', ...(opts.cwd ? ['--cwd', opts.cwd] : []), ...(opts.args ?? []), ...(argv.length ? ['--', ...argv] : [])],
    { CCG_RUN_TOKEN: run.token, ...opts.env },
  );
  t.after(() => runner.child.kill('SIGKILL'));
  return { run, runner };
}

/** The rows of the terminal's screen as xterm.js in the page renders them (text, right-trimmed). */
export function screenRows(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const t = (window as unknown as { ccgTerminal: { rows: number; buffer: { active: { baseY: number; getLine(i: number): { translateToString(trim: boolean): string } | undefined } } } }).ccgTerminal;
    const b = t.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < t.rows; i++) out.push(b.getLine(b.baseY + i)?.translateToString(true) ?? '');
    return out;
  });
}

/** Waits until the page's terminal shows what `check` accepts; the last rows are in the error. */
export async function waitScreen(page: Page, check: (rows: string[]) => boolean, what: string, ms = 30_000): Promise<string[]> {
  let last: string[] = [];
  try {
    return await waitFor(async () => {
      last = await screenRows(page).catch(() => []);
      return check(last) ? last : undefined;
    }, ms, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nscreen:\n${last.join('\n')}`);
  }
}

