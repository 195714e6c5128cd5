import { PassThrough } from 'node:stream';
import { createCli } from '../../cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/** Runs a ccg command in-process, as clipanion commands are meant to be tested. */
export async function runCli(argv: string[], env: Record<string, string | undefined> = {}, opts: { tty?: boolean } = {}): Promise<CliResult> {
  const stdout = new PassThrough();
  // As if stdout were a terminal: commands that filter what reaches a person's terminal do.
  if (opts.tty) (stdout as PassThrough & { isTTY?: boolean }).isTTY = true;
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (d: Buffer) => out.push(d));
  stderr.on('data', (d: Buffer) => err.push(d));
  const code = await createCli().run(argv, { stdout, stderr, env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env } });
  await new Promise((r) => setImmediate(r));
  const stdoutBytes = Buffer.concat(out);
  return { code, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes };
}
