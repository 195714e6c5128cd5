import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { sanitizeArtifactSegment, type ArtifactKind } from '../../protocol/artifacts.js';
import type { Redaction } from '../../protocol/redaction.js';
import type { GatewayCollect } from '../../protocol/runner-messages.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { readConfined } from './confined-read.js';
import { commandEnv } from './env.js';
import { groupSpawnOptions, stopTree } from './process-tree.js';
import { findGlobFiles } from './glob.js';
import type { RunLog } from './run-log.js';
import { UploadRefused, uploadArtifact, type UploadItem, type UploadTarget } from './upload.js';
import type { UsedIds } from './used-ids.js';

export interface CollectorOptions {
  target: UploadTarget;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Patterns from `--artifact`, already checked (glob.ts checkGlob). */
  globs: string[];
  /** Cap per artifact, in bytes. */
  maxBytes: number;
  redaction: Redaction;
  runLog: RunLog;
  usedIds: UsedIds;
  event(ev: RunnerEvent): void;
  status(line: string): void;
  /** Injected in tests; the real signed HTTPS upload by default. */
  upload?: typeof uploadArtifact;
}

/** How long a requested collection may take; at exit the runner passes its own deadline. */
const REQUEST_DEADLINE_MS = 5 * 60_000;
/** More filter drivers than this in a repository's config: the diffs are skipped (their switches would not fit an argv). */
const MAX_FILTERS = 200;
const GIT_TIMEOUT_MS = 60_000;
/** Extra bytes read past the cap, so a secret straddling the cut is redacted before the cut. */
const REDACT_SLACK = 64 * 1024;
const MAX_FILES = 200;

type Item = Omit<UploadItem, 'collection'>;

/**
 * Collects the artifacts of a run and uploads them: the run log, `git diff`, `git diff --staged`,
 * the list of untracked files, and the files matching the runner's `--artifact` globs. Each is
 * capped; text is redacted (the gateway redacts it again). One collection at a time; each request
 * id is accepted once.
 */
export class ArtifactCollector {
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly o: CollectorOptions) {}

  /** A collect request from the gateway. */
  handle(msg: GatewayCollect): void {
    const refuse = (reason: string) => {
      this.o.status(`refused to collect artifacts: ${reason}`);
      this.o.event({ type: 'collect_done', requestId: msg.requestId, trigger: 'request', uploaded: [], skipped: [], error: reason });
    };
    const spent = this.o.usedIds.claim(msg.requestId);
    if (spent) return refuse(spent);
    if (this.closed) return refuse('the run is ending');
    if (this.running) return refuse('a collection is already running');
    void this.collect('request', msg.requestId, Date.now() + REQUEST_DEADLINE_MS);
  }

  /** Collects at the end of the run (after any requested collection finishes), then refuses more. */
  async atExit(deadline: number, collect: boolean): Promise<void> {
    this.closed = true;
    await this.running;
    if (collect) await this.collect('exit', null, deadline);
  }

  /** Waits for a running collection. */
  async idle(): Promise<void> {
    await this.running;
  }

  private collect(trigger: 'exit' | 'request', requestId: string | null, deadline: number): Promise<void> {
    const run = async () => {
      this.o.event({ type: 'collect_started', requestId, trigger });
      const uploaded: { name: string; bytes: number; truncated: boolean }[] = [];
      const skipped: { name: string; reason: string }[] = [];
      let error: string | null = null;
      const upload = this.o.upload ?? uploadArtifact;
      try {
        for await (const got of this.items(skipped)) {
          try {
            await upload(this.o.target, { ...got, collection: requestId ?? 'exit' }, deadline);
            uploaded.push({ name: got.name, bytes: got.body.length, truncated: got.truncated });
          } catch (err) {
            skipped.push({ name: got.name, reason: `upload failed: ${(err as Error).message.slice(0, 300)}` });
            // A refusal of one artifact (too large, run finished) may not apply to the next; a dead gateway does.
            if (!(err instanceof UploadRefused) && Date.now() >= deadline) {
              error = 'gave up: the gateway could not be reached in time';
              break;
            }
          }
        }
      } catch (err) {
        error = `collection failed: ${(err as Error).message.slice(0, 300)}`;
      }
      this.o.status(`artifacts collected (${trigger}): ${uploaded.length} uploaded${skipped.length ? `, ${skipped.length} skipped` : ''}`);
      this.o.event({ type: 'collect_done', requestId, trigger, uploaded: uploaded.slice(0, 200), skipped: skipped.slice(0, 50), error });
    };
    const p = run().finally(() => {
      if (this.running === p) this.running = null;
    });
    this.running = p;
    return p;
  }

  /** Each artifact in turn, read (and redacted) only when its turn comes. */
  private async *items(skipped: { name: string; reason: string }[]): AsyncGenerator<Item> {
    const cap = this.o.maxBytes;
    const log = this.o.runLog.read(cap);
    const head = log.omitted > 0 ? Buffer.from(`[ccg: the first ${log.omitted} bytes of this log are omitted; the gateway has the full output]\n`) : Buffer.alloc(0);
    yield { name: 'run.log', kind: 'log', truncated: log.omitted > 0, originalBytes: log.total, body: Buffer.concat([head, log.data]) };

    const inRepo = await this.git(['rev-parse', '--is-inside-work-tree'], 4096);
    const noFilters = inRepo.code === 0 ? await this.noFilters() : null;
    if (inRepo.code !== 0 || inRepo.out.toString().trim() !== 'true') {
      skipped.push({ name: 'diff.patch', reason: 'the workspace is not a git work tree' });
    } else if (noFilters === null) {
      skipped.push({ name: 'diff.patch', reason: "the repository's config names filter drivers that cannot all be switched off" });
    } else {
      const gitItems: [string, ArtifactKind, string[]][] = [
        ['diff.patch', 'diff', [...noFilters, 'diff', '--no-color', '--no-ext-diff', '--no-textconv']],
        ['staged.patch', 'diff-staged', [...noFilters, 'diff', '--staged', '--no-color', '--no-ext-diff', '--no-textconv']],
        ['untracked.txt', 'untracked', [...noFilters, 'ls-files', '--others', '--exclude-standard']],
      ];
      for (const [name, kind, args] of gitItems) {
        const r = await this.git(args, cap + REDACT_SLACK);
        if (r.code !== 0) {
          skipped.push({ name, reason: `git ${args[0]} failed: ${r.err.toString('utf8').trim().split('\n')[0]?.slice(0, 200) ?? `exit ${r.code}`}` });
          continue;
        }
        yield this.capText(name, kind, r.out, r.total);
      }
    }

    if (this.o.globs.length === 0) return;
    const root = realpathSync(this.o.cwd);
    const found = findGlobFiles(root, this.o.globs, { maxFiles: MAX_FILES, maxEntries: 50_000 });
    for (const s of found.skipped) skipped.push({ name: `files/${s.path}`, reason: s.reason });
    if (found.limited) skipped.push({ name: 'files/', reason: `stopped at ${MAX_FILES} files or 50000 directory entries` });
    for (const rel of found.files) {
      const name = `files/${rel.split('/').map(sanitizeArtifactSegment).join('/')}`;
      const read = readConfined(root, rel, cap);
      if (!read.ok) {
        skipped.push({ name, reason: read.reason });
        continue;
      }
      const text = !read.data.includes(0);
      yield { name, kind: 'file', truncated: false, originalBytes: null, body: text ? this.o.redaction.applyBytes(read.data) : read.data };
    }
  }

  /** Redacts text, then cuts it at the cap with a note at the end. */
  private capText(name: string, kind: ArtifactKind, raw: Buffer, total: number): Item {
    const redacted = this.o.redaction.applyBytes(raw);
    if (total <= this.o.maxBytes && redacted.length <= this.o.maxBytes) return { name, kind, truncated: false, originalBytes: total, body: redacted };
    const note = Buffer.from(`\n[ccg: truncated at ${this.o.maxBytes} bytes; the original had ${total}]\n`);
    return { name, kind, truncated: true, originalBytes: total, body: Buffer.concat([redacted.subarray(0, Math.max(0, this.o.maxBytes - note.length)), note]) };
  }

  /**
   * `-c` options that switch off every filter driver the repository's config defines (a clean
   * filter or a filter process runs whatever the config says when git reads a file): whoever can
   * edit `.git/config` and `.gitattributes`, a Claude allowed only edits among them, must not make
   * a collection run a program. Null when they cannot all be switched off: the list did not come
   * whole, a name holds `=` (which `-c` would split at), or there are too many to pass.
   */
  private async noFilters(): Promise<string[] | null> {
    const keep = 64 * 1024;
    const r = await this.git(['config', '--name-only', '--null', '--get-regexp', '^filter\\.'], keep);
    // 1: no filter configured at all.
    if ((r.code !== 0 && r.code !== 1) || r.total > keep) return null;
    const names = new Set<string>();
    for (const key of r.out.toString('utf8').split('\0')) {
      const dot = key.lastIndexOf('.');
      if (key.startsWith('filter.') && dot > 7) names.add(key.slice(7, dot));
    }
    if (names.size > MAX_FILTERS) return null;
    const out: string[] = [];
    for (const n of names) {
      if (n.includes('=')) return null;
      for (const v of ['clean', 'smudge', 'process']) out.push('-c', `filter.${n}.${v}=`);
      out.push('-c', `filter.${n}.required=false`);
    }
    return out;
  }

  /** Runs git in the workspace with the scrubbed environment, keeping at most `keep` bytes of its output. */
  private git(args: string[], keep: number): Promise<{ code: number | null; out: Buffer; err: Buffer; total: number }> {
    // No pager, no fsmonitor hook, paths printed as they are.
    const argv = ['-c', 'core.fsmonitor=false', '-c', 'core.quotepath=off', '-c', 'core.pager=cat', ...args];
    return new Promise((resolve) => {
      const child = spawn('git', argv, { cwd: this.o.cwd, env: commandEnv(this.o.env), stdio: ['ignore', 'pipe', 'pipe'], ...groupSpawnOptions });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let kept = 0;
      let total = 0;
      child.stdout!.on('data', (d: Buffer) => {
        total += d.length;
        if (kept < keep) {
          const part = d.subarray(0, keep - kept);
          out.push(part);
          kept += part.length;
        }
      });
      child.stderr!.on('data', (d: Buffer) => {
        if (err.length < 16) err.push(d);
      });
      const timer = setTimeout(() => stopTree(child.pid, 'SIGKILL'), GIT_TIMEOUT_MS);
      child.on('error', (e) => {
        clearTimeout(timer);
        resolve({ code: 127, out: Buffer.alloc(0), err: Buffer.from(String((e as NodeJS.ErrnoException).code ?? e.message)), total: 0 });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out: Buffer.concat(out), err: Buffer.concat(err), total });
      });
    });
  }
}

