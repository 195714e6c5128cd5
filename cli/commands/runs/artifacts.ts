import { createWriteStream, existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Command, Option } from 'clipanion';
import { ArtifactsResponse, artifactBasename, isArtifactName } from '../../../protocol/artifacts.js';
import { CliError, EXIT } from '../../exit-codes.js';
import { age, bytes, jsonLine, safe, table } from '../../format.js';
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

      --download NAME saves one to the file named by --output (default: the artifact's own file
      name, in the current directory; an existing file is not overwritten unless --force).
      \`--output -\` writes it to stdout.
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

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    const api = this.api();
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
    const dest = this.output ?? artifactBasename(name);
    if (dest !== '-' && existsSync(dest) && !this.force) throw new CliError(`${dest} exists; pass --force to overwrite it, or --output FILE`);
    const res = await api.open('GET', `/api/v1/runs/${id}/artifacts/${encodeURIComponent(name)}`);
    if (dest === '-') {
      await pipeline(res, this.context.stdout, { end: false });
      return 0;
    }
    await pipeline(res, createWriteStream(dest, { mode: 0o600 }));
    const size = Number(res.headers['content-length'] ?? 0);
    if (this.json) this.context.stdout.write(jsonLine({ saved: dest, bytes: size, sha256: res.headers['x-ccg-sha256'] ?? null }));
    else this.context.stderr.write(`saved ${name} to ${dest} (${bytes(size)})\n`);
    return 0;
  }
}
