import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { artifactContentType, type ArtifactInfo, type ArtifactKind } from '../../protocol/artifacts.js';
import { CcgError } from '../../protocol/errors.js';
import { ChunkRedactor, type Redaction } from '../../protocol/redaction.js';
import type { EventBus } from '../live/bus.js';
import type { Logger } from '../log.js';
import type { ArtifactIndex, SharedBlobs } from '../store/types.js';

export interface ArtifactLimits {
  /** One artifact. */
  maxArtifactBytes: number;
  /** Distinct artifact names per run. */
  maxRunArtifacts: number;
  /** Stored bytes per run, all artifacts together. */
  maxRunArtifactBytes: number;
  /**
   * Bytes a run may upload over its whole life, replaced artifacts included: re-uploading one
   * name again and again costs no disk (the replaced blob is deleted), but it is still work.
   */
  maxRunUploadBytes: number;
  /** Uploads a run may make over its whole life. */
  maxRunUploads: number;
}

/** How long an unreferenced cluster blob is kept before it is deleted (see dropShared). */
const SHARED_DELETE_DELAY_MS = 60_000;

export interface ArtifactServiceOptions {
  /** `<data>/artifacts`: blobs under `sha256/<2 hex>/<64 hex>`, uploads in progress under `tmp/`. */
  dir: string;
  index: ArtifactIndex;
  limits: ArtifactLimits;
  /** Where a run's new artifact list is announced (`artifacts`). */
  bus: EventBus;
  /** A cluster: blobs every node reads; the local directory is then this node's copy of them. */
  shared?: SharedBlobs | undefined;
  log: Logger;
  now: () => number;
}

export interface UploadMeta {
  name: string;
  kind: ArtifactKind;
  truncated: boolean;
  originalBytes: number | null;
  collection: string | null;
}

const REDACT_PIECE = 1024 * 1024;

/** An upload in progress: bytes go to a temp file as they arrive, hashed on the way. */
export class Upload {
  private readonly fd: number;
  private readonly hash: Hash = createHash('sha256');
  private received = 0;
  private sawNul = false;
  private closed = false;

  constructor(
    private readonly svc: ArtifactService,
    readonly runId: string,
    readonly meta: UploadMeta,
    readonly length: number,
    private readonly tmp: string,
  ) {
    this.fd = openSync(tmp, 'wx', 0o600);
  }

  /** Appends a piece of the body; throws past the announced length. */
  write(piece: Buffer): void {
    this.received += piece.length;
    if (this.received > this.length) throw new CcgError('ERR_TOO_LARGE', `body is longer than its content-length (${this.length})`);
    if (!this.sawNul && piece.includes(0)) this.sawNul = true;
    this.hash.update(piece);
    writeSync(this.fd, piece);
  }

  /**
   * Checks the body against the signed hash, redacts text, stores the blob under its own hash and
   * records the artifact. Throws ERR_SIGNATURE_INVALID when the body is not what was signed.
   */
  async finish(declaredSha256: string, redaction: Redaction): Promise<ArtifactInfo> {
    try {
      if (this.received !== this.length) throw new CcgError('ERR_BAD_REQUEST', `body has ${this.received} bytes, content-length said ${this.length}`);
      const actual = this.hash.digest('hex');
      if (actual !== declaredSha256) throw new CcgError('ERR_SIGNATURE_INVALID', 'the body does not match the signed x-ccg-content-sha256');
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.closed = true;
      // Text is redacted once more here (the runner already did, with its environment's secrets too).
      const text = !this.sawNul;
      const stored = text ? this.redactCopy(redaction) : { file: this.tmp, sha256: actual, bytes: this.received };
      return await this.svc.commit(this.runId, this.meta, stored, text);
    } finally {
      this.abort();
    }
  }

  /** Drops the temp file (client went away, refused, or done). */
  abort(): void {
    this.svc.release(this);
    if (!this.closed) {
      this.closed = true;
      try {
        closeSync(this.fd);
      } catch {
        /* closed */
      }
    }
    rmSync(this.tmp, { force: true });
    rmSync(`${this.tmp}.r`, { force: true });
  }

  private redactCopy(redaction: Redaction): { file: string; sha256: string; bytes: number } {
    const out = `${this.tmp}.r`;
    const src = openSync(this.tmp, 'r');
    const dst = openSync(out, 'wx', 0o600);
    const hash = createHash('sha256');
    const r = new ChunkRedactor(redaction);
    const piece = Buffer.alloc(REDACT_PIECE);
    let bytes = 0;
    try {
      for (;;) {
        const n = readSync(src, piece, 0, REDACT_PIECE, null);
        if (n === 0) break;
        const clean = r.apply(piece.subarray(0, n));
        hash.update(clean);
        writeSync(dst, clean);
        bytes += clean.length;
      }
      fsyncSync(dst);
    } finally {
      closeSync(src);
      closeSync(dst);
    }
    return { file: out, sha256: hash.digest('hex'), bytes };
  }
}

/**
 * The gateway's artifact store: content-addressed blobs on disk (one file per distinct content,
 * named by its SHA-256, so a name from a runner never becomes a path), metadata in LMDB.
 */
export class ArtifactService {
  /** Uploads in progress, counted against their run's limits until they end. */
  private readonly inflight = new Set<Upload>();
  /**
   * Commits (and the blob sweep) run one at a time: a blob's file is placed, kept or deleted in
   * the same turn as its reference count changes, so an upload of content X can never find X's
   * file present, skip writing it, and then see it deleted by a replacement that dropped X's last
   * reference.
   */
  private serial: Promise<unknown> = Promise.resolve();
  /** The startup sweep of blobs nothing refers to (tests await it). */
  readonly swept: Promise<number>;

  constructor(private readonly o: ArtifactServiceOptions) {
    mkdirSync(join(o.dir, 'sha256'), { recursive: true, mode: 0o700 });
    // Uploads cut short by a crash leave temp files: nothing refers to them.
    rmSync(join(o.dir, 'tmp'), { recursive: true, force: true });
    mkdirSync(join(o.dir, 'tmp'), { recursive: true, mode: 0o700 });
    this.swept = this.inTurn(() => this.sweep());
    this.swept.catch((err: unknown) => o.log.warn('artifact.sweep_failed', { err: String(err) }));
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.serial.then(fn, fn);
    this.serial = next.catch(() => undefined);
    return next;
  }

  /**
   * Deletes blob files no artifact refers to: left by a crash between a commit and its delete,
   * or by gateways from before blobs were counted (which kept every replaced blob).
   */
  private async sweep(): Promise<number> {
    let removed = 0;
    const root = join(this.o.dir, 'sha256');
    for (const dir of await readdir(root)) {
      if (!/^[0-9a-f]{2}$/.test(dir)) continue;
      for (const name of await readdir(join(root, dir))) {
        if (!/^[0-9a-f]{64}$/.test(name) || this.o.index.blobRefs(name) > 0) continue;
        await rm(join(root, dir, name), { force: true });
        removed++;
      }
    }
    if (removed > 0) this.o.log.info('artifact.swept', { blobs: removed });
    return removed;
  }

  get limits(): ArtifactLimits {
    return this.o.limits;
  }

  blobPath(sha256: string): string {
    return join(this.o.dir, 'sha256', sha256.slice(0, 2), sha256);
  }

  /**
   * Deletes a cluster blob nothing refers to, a minute later and only if still nothing does:
   * another node may be uploading the same content right now (its put found the blob there and
   * its reference is not counted yet). A blob kept too long costs space; one deleted too early
   * would lose an artifact.
   */
  private dropShared(sha256: string): void {
    const timer = setTimeout(() => {
      if (this.o.index.blobRefs(sha256) > 0) return;
      this.o.shared?.delete(sha256).catch((err: unknown) => this.o.log.warn('artifact.blob_delete_failed', { sha256, err: String(err) }));
    }, SHARED_DELETE_DELAY_MS);
    timer.unref();
  }

  /** The blob's file on this node: fetched once from the cluster's blobs when another node received it. */
  async localBlob(sha256: string): Promise<string> {
    const path = this.blobPath(sha256);
    if (existsSync(path)) return path;
    if (this.o.shared) {
      mkdirSync(join(this.o.dir, 'sha256', sha256.slice(0, 2)), { recursive: true, mode: 0o700 });
      await this.o.shared.fetch(sha256, path);
    }
    // Checked before the download's status line goes out: a missing file was a dropped connection.
    if (!existsSync(path)) {
      throw new CcgError('ERR_NOT_FOUND', `the artifact is listed but its file (sha256 ${sha256.slice(0, 16)}…) is not on this gateway${this.o.shared ? ' nor in the shared blob store' : ''}`);
    }
    return path;
  }

  list(runId: string): ArtifactInfo[] {
    return this.o.index.listArtifacts(runId);
  }

  get(runId: string, name: string): ArtifactInfo | undefined {
    return this.o.index.getArtifact(runId, name);
  }

  /** Starts an upload after checking the run's limits against the announced length. */
  begin(runId: string, meta: UploadMeta, length: number): Upload {
    const l = this.o.limits;
    if (length > l.maxArtifactBytes) throw new CcgError('ERR_TOO_LARGE', `artifact of ${length} bytes exceeds the gateway's limit of ${l.maxArtifactBytes}`);
    // Uploads still in progress count too: parallel uploads cannot together pass the limits.
    const pending = [...this.inflight].filter((u) => u.runId === runId);
    const names = new Set([...this.list(runId).map((a) => a.name), ...pending.map((u) => u.meta.name)]);
    names.delete(meta.name);
    if (names.size >= l.maxRunArtifacts) throw new CcgError('ERR_TOO_LARGE', `a run may keep at most ${l.maxRunArtifacts} artifacts`);
    const stored = this.list(runId).filter((a) => a.name !== meta.name).reduce((n, a) => n + a.bytes, 0);
    const used = stored + pending.reduce((n, u) => n + u.length, 0);
    if (used + length > l.maxRunArtifactBytes) throw new CcgError('ERR_TOO_LARGE', `the run's artifacts would exceed ${l.maxRunArtifactBytes} bytes`);
    // Over the run's life, replaced uploads included: churning one name is bounded too.
    const life = this.o.index.usageOf(runId);
    if (life.uploads + pending.length + 1 > l.maxRunUploads) throw new CcgError('ERR_TOO_LARGE', `the run has made its ${l.maxRunUploads} artifact uploads`);
    if (life.bytes + pending.reduce((n, u) => n + u.length, 0) + length > l.maxRunUploadBytes) {
      throw new CcgError('ERR_TOO_LARGE', `the run's uploads would pass ${l.maxRunUploadBytes} bytes over its life`);
    }
    const upload = new Upload(this, runId, meta, length, join(this.o.dir, 'tmp', randomBytes(12).toString('hex')));
    this.inflight.add(upload);
    return upload;
  }

  /** An upload ended (stored or not): it no longer counts against its run's limits. */
  release(upload: Upload): void {
    this.inflight.delete(upload);
  }

  /**
   * Moves a finished upload into place (unless that content is already there) and indexes it;
   * the blob it replaced is deleted once nothing refers to it.
   */
  commit(runId: string, meta: UploadMeta, stored: { file: string; sha256: string; bytes: number }, redacted: boolean): Promise<ArtifactInfo> {
    return this.inTurn(() => this.commitNow(runId, meta, stored, redacted));
  }

  private async commitNow(runId: string, meta: UploadMeta, stored: { file: string; sha256: string; bytes: number }, redacted: boolean): Promise<ArtifactInfo> {
    const blob = this.blobPath(stored.sha256);
    if (existsSync(blob) && statSync(blob).size === stored.bytes) {
      rmSync(stored.file, { force: true });
    } else {
      mkdirSync(join(this.o.dir, 'sha256', stored.sha256.slice(0, 2)), { recursive: true, mode: 0o700 });
      renameSync(stored.file, blob);
    }
    // A cluster: durable where every node reads it before the artifact is recorded.
    if (this.o.shared) {
      try {
        await this.o.shared.put(stored.sha256, blob);
      } catch (err) {
        if (this.o.index.blobRefs(stored.sha256) === 0) rmSync(blob, { force: true });
        throw err;
      }
    }
    const info: ArtifactInfo = {
      name: meta.name,
      kind: meta.kind,
      bytes: stored.bytes,
      sha256: stored.sha256,
      contentType: artifactContentType(meta.name, meta.kind),
      truncated: meta.truncated,
      originalBytes: meta.originalBytes,
      redacted,
      collection: meta.collection,
      uploadedAt: this.o.now(),
    };
    let unreferenced: string[];
    try {
      ({ unreferenced } = await this.o.index.putArtifact(runId, info));
    } catch (err) {
      if (this.o.index.blobRefs(stored.sha256) === 0) rmSync(blob, { force: true });
      throw err;
    }
    for (const sha of unreferenced) {
      rmSync(this.blobPath(sha), { force: true });
      if (this.o.shared) this.dropShared(sha);
    }
    this.o.bus.publish('artifacts', { runId, artifacts: this.list(runId) });
    return info;
  }
}
