import type { Readable, Writable } from 'node:stream';
import { CliError, EXIT } from './exit-codes.js';

type TtyIn = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

export function isInteractive(stdin: Readable): boolean {
  return Boolean((stdin as TtyIn).isTTY);
}

/**
 * Asks for one line on a terminal. With `hidden`, nothing is echoed (passwords): the terminal is
 * put in raw mode and restored afterwards, also on Ctrl-C.
 */
export function prompt(stdin: Readable, stdout: Writable, question: string, opts: { hidden?: boolean } = {}): Promise<string> {
  const input = stdin as TtyIn;
  if (!input.isTTY) return Promise.reject(new CliError(`cannot ask "${question.trim()}": no terminal (use the flags or environment variables instead)`));
  stdout.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const raw = Boolean(opts.hidden && input.setRawMode);
    if (raw) input.setRawMode!(true);
    input.setEncoding('utf8');
    const done = (err: CliError | null) => {
      input.off('data', onData);
      if (raw) input.setRawMode!(false);
      input.pause();
      if (opts.hidden) stdout.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003') return done(new CliError('cancelled', EXIT.CANCELLED, 'ERR_CANCELLED'));
        if (ch === '\u0004' && value === '') return done(new CliError('cancelled', EXIT.CANCELLED, 'ERR_CANCELLED'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}

/** Reads all of stdin (for --password-stdin) and returns its first line. */
export async function readFirstLine(stdin: Readable): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of stdin) {
    const b = Buffer.isBuffer(part) ? part : Buffer.from(String(part));
    parts.push(b);
    size += b.length;
    if (size > 64 * 1024) break;
  }
  return Buffer.concat(parts).toString('utf8').split(/\r?\n/)[0] ?? '';
}
