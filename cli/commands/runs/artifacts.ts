import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, lstatSync, renameSync, rmSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command, Option } from 'clipanion';
import { ArtifactsResponse, artifactBasename, isArtifactName } from '../../../protocol/artifacts.js';
import { CliError, EXIT } from '../../exit-codes.js';
import { age, bytes, jsonLine, safe, table } from '../../format.js';
import { isTerminal, TerminalFilter } from '../../terminal-filter.js';
import { GatewayCommand } from '../base.js';
import { runIdArg } from './args.js';

export class RunsArtifactsCommand extends GatewayCommand {
  static override paths = [['runs', 'artifacts']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "List a run's artifacts, or download one",
    details: `
      Artifacts are what the runner collected at exit or on \`ccg runs collect\`: run.log,
      diff.patch (git diff), staged.patch (git diff --staged), untracked.txt, and files/… for
      its --artifact globs. Text artifacts are redacted of secrets by the runner and again by the
      gateway.

      With --download NAME it saves one to the file named by --output (default: the artifact's own file
      name, in the current directory; an existing file is not overwritten unless --force). The
      file appears only once it is whole and its SHA-256 matches the gateway's record (a download
      that fails leaves nothing behind; one stopped with Ctrl-C may leave a hidden .NAME.….part
      file). Something that is not a plain file (/dev/null, a FIFO, a symlink) is written into.
      \`--output -\` writes it to stdout (not with --json); on a terminal its escape sequences
      are dropped as \`ccg runs logs\` drops them (colours stay), unless --raw.
    `,
    examples: [
      ['List', 'ccg runs artifacts 7k2m9x4q3w8z'],
      ['Save the diff', 'ccg runs artifacts 7k2m9x4q3w8z --download diff.patch'],
      ['Pipe the log', 'ccg runs artifacts 7k2m9x4q3w8z --download run.log -o - | tail'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  download = Option.String('--download', { description: 'Download the artifact with this name' });
  output = Option.String('-o,--output', { description: 'With --download: the file to write (- for stdout)' });
  force = Option.Boolean('--force', false, { description: 'With --download: overwrite an existing file' });
  raw = Option.Boolean('--raw', false, { description: 'With --output - on a terminal: write the bytes exactly as they are (escape sequences included)' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    const api = this.api();
    if (this.download === undefined && (this.output !== undefined || this.force)) throw new CliError(`${this.output !== undefined ? '--output' : '--force'} goes with --download NAME`, EXIT.ERROR, 'ERR_USAGE');
    if (this.download === undefined) {
      const out = await api.json('GET', `/api/v1/runs/${id}/artifacts`, ArtifactsResponse);
      this.print(out, () => {
        if (out.artifacts.length === 0) return `run ${id} has no artifacts yet (collect them with: ccg runs collect ${id} --wait)\n`;
        const rows = out.artifacts.map((a) => [safe(a.name), a.kind, bytes(a.bytes) + (a.truncated ? ' (cut)' : ''), age(a.uploadedAt), a.sha256.slice(0, 12)]);
        return table([['NAME', 'KIND', 'SIZE', 'AGE', 'SHA256'], ...rows]);
      });
      return 0;
    }
    const name = this.download;
    if (!isArtifactName(name)) throw new CliError(`"${safe(name.slice(0, 100))}" is not an artifact name`, EXIT.NOT_FOUND, 'ERR_NOT_FOUND');
    // Only --output - is stdout: an artifact the runner named files/- is saved as a file named "-".
    const dest = this.output ?? (artifactBasename(name) === '-' ? './-' : artifactBasename(name));
    // stdout carries the artifact itself: a JSON document after it would corrupt both.
    if (dest === '-' && this.json) throw new CliError('--output - writes the artifact itself to stdout; leave out --json, or give --output FILE', EXIT.ERROR, 'ERR_USAGE');
    let existing: Stats | null = null;
    try {
      existing = dest === '-' ? null : lstatSync(dest);
    } catch {
      /* not there: the usual case */
    }
    if (existing && !this.force) throw new CliError(`${dest} exists; pass --force to overwrite it, or --output FILE`);
    const res = await api.open('GET', `/api/v1/runs/${id}/artifacts/${encodeURIComponent(name)}`);
    if (dest === '-') {
      // The workspace's bytes (Claude wrote them): on a terminal, never its escape sequences.
      const filter = !this.raw && isTerminal(this.context.stdout) ? new TerminalFilter() : null;
      const through = filter ? [new Transform({ transform: (chunk: Buffer, _enc, done) => done(null, filter.write(chunk)) })] : [];
      await pipeline([res, ...through, this.context.stdout], { end: false });
      return 0;
    }
    // Written beside the destination, then renamed: never a partial file under the real name.
    // Something that is not a plain file (/dev/null, a FIFO, a symlink, /dev/fd/N) is written
    // into as it is, never replaced.
    const inPlace = existing !== null && !existing.isFile();
    const part = inPlace ? dest : join(dirname(dest), `.${artifactBasename(name)}.${randomBytes(6).toString('hex')}.part`);
    const hash = createHash('sha256');
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    let created = false;
    try {
      const out = createWriteStream(part, { mode: 0o600, flags: inPlace ? 'w' : 'wx' });
      out.once('open', () => (created = !inPlace));
      await pipeline(res, count, out).catch((err: unknown) => {
        const e = err as NodeJS.ErrnoException;
        // A local write failure names the file asked for, not the temporary one.
        if (e.syscall === 'open' || e.syscall === 'write') throw new CliError(`cannot write ${dest}: ${e.code ?? e.message}`);
        throw err;
      });
      const sha256 = hash.digest('hex');
      const expected = res.headers['x-ccg-sha256'];
      if (typeof expected === 'string' && expected !== sha256) throw new CliError(`the download of ${name} does not match the gateway's SHA-256 (got ${sha256.slice(0, 12)}…, expected ${safe(expected.slice(0, 12))}…)${inPlace ? '' : '; nothing was saved'}`, EXIT.ERROR, 'ERR_BAD_RESPONSE');
      if (!inPlace) {
        renameSync(part, dest);
        created = false;
      }
      if (this.json) this.context.stdout.write(jsonLine({ saved: dest, bytes: size, sha256 }));
      else this.context.stderr.write(`saved ${name} to ${dest} (${bytes(size)})\n`);
    } finally {
      // Only what this command made (a Ctrl-C before here leaves its hidden .part file).
      if (created) rmSync(part, { force: true });
    }
    return 0;
  }
}
