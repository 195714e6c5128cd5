import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * The runner's on-disk spool: every output chunk is written here before it is sent and kept
 * until the gateway acknowledges it as committed. Segment files of at most SEGMENT_BYTES hold
 * records `u64be seq | u8 stream | u32be length | data`; a segment is deleted once every record
 * in it is acknowledged, so the spool holds only what the gateway does not have yet.
 * A restarted runner reopens the spool of its run and resends what is left.
 */
const RECORD_HEADER = 13;
const SPOOL_DIR = ['ccg', 'spool'];
const SEGMENT_BYTES = 8 * 1024 * 1024;

interface Segment {
  file: string;
  fd: number;
  firstSeq: number;
  lastSeq: number;
  size: number;
}

interface Entry {
  seg: Segment;
  offset: number;
  length: number;
  stream: number;
}

/**
 * Where runs' spools live when `--spool-dir` is not given: `$XDG_STATE_HOME/ccg/spool`, else
 * `~/.local/state/ccg/spool`; on Windows `%LOCALAPPDATA%\ccg\spool` (the per-user, non-roaming
 * place for state). Built from segments with the platform's own `path`, so no separator is
 * assumed; `paths` is injectable so tests check the Windows form on any machine.
 *
 * @example defaultSpoolRoot({ LOCALAPPDATA: 'C:\\Users\\ann\\AppData\\Local' }, 'C:\\Users\\ann', 'win32', path.win32)
 */
export function defaultSpoolRoot(env: NodeJS.ProcessEnv, home: string, platform: NodeJS.Platform = process.platform, paths: path.PlatformPath = path): string {
  if (env['XDG_STATE_HOME']) return paths.join(env['XDG_STATE_HOME'], ...SPOOL_DIR);
  if (platform === 'win32' && env['LOCALAPPDATA']) return paths.join(env['LOCALAPPDATA'], ...SPOOL_DIR);
  return paths.join(env['HOME'] ?? home, '.local', 'state', ...SPOOL_DIR);
}

export interface SpooledChunk {
  seq: number;
  stream: number;
  data: Buffer;
}

export class Spool {
  private readonly segments: Segment[] = [];
  /** entries[i] describes seq `base + i`; acknowledged entries are dropped from the front. */
  private entries: Entry[] = [];
  private head = 0;
  private base = 1;
  private diskBytes = 0;

  private constructor(readonly dir: string) {}

  /** Opens (creating or recovering) the spool directory of one run. */
  static open(dir: string): Spool {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const spool = new Spool(dir);
    const files = readdirSync(dir).filter((f) => /^\d{16}\.seg$/.test(f)).sort();
    for (const f of files) spool.load(path.join(dir, f));
    return spool;
  }

  private load(file: string): void {
    const fd = openSync(file, 'r+');
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(RECORD_HEADER);
    const seg: Segment = { file, fd, firstSeq: 0, lastSeq: 0, size: 0 };
    let offset = 0;
    while (offset + RECORD_HEADER <= size) {
      readSync(fd, head, 0, RECORD_HEADER, offset);
      const seq = Number(head.readBigUInt64BE(0));
      const length = head.readUInt32BE(9);
      if (offset + RECORD_HEADER + length > size) break; // torn write at a crash: drop it
      if (this.entries.length - this.head > 0 && seq !== this.maxSeq + 1) break;
      if (this.count === 0) {
        this.entries = [];
        this.head = 0;
        this.base = seq;
      }
      this.entries.push({ seg, offset, length, stream: head[8]! });
      seg.firstSeq ||= seq;
      seg.lastSeq = seq;
      offset += RECORD_HEADER + length;
    }
    if (offset < size) ftruncateSync(fd, offset);
    seg.size = offset;
    if (seg.lastSeq === 0) {
      closeSync(fd);
      unlinkSync(file);
      return;
    }
    this.diskBytes += offset;
    this.segments.push(seg);
  }

  /** Number of unacknowledged chunks. */
  get count(): number {
    return this.entries.length - this.head;
  }

  /** Highest seq in the spool; 0 when empty and nothing was ever spooled in this process. */
  get maxSeq(): number {
    return this.base + this.entries.length - 1;
  }

  /** Lowest seq still waiting for an acknowledgement. */
  get minSeq(): number {
    return this.base + this.head;
  }

  get bytes(): number {
    return this.diskBytes;
  }

  /** Sets where numbering continues when the spool is empty (from the gateway's welcome). */
  resetBase(nextSeq: number): void {
    if (this.count > 0) throw new Error('spool is not empty');
    this.entries = [];
    this.head = 0;
    this.base = nextSeq;
  }

  append(seq: number, stream: number, data: Uint8Array): void {
    if (seq !== this.maxSeq + 1) throw new Error(`spool expects seq ${this.maxSeq + 1}, got ${seq}`);
    let seg = this.segments.at(-1);
    if (!seg || seg.size + RECORD_HEADER + data.length > SEGMENT_BYTES) {
      const file = path.join(this.dir, `${String(seq).padStart(16, '0')}.seg`);
      seg = { file, fd: openSync(file, 'w+', 0o600), firstSeq: seq, lastSeq: seq, size: 0 };
      this.segments.push(seg);
    }
    const head = Buffer.allocUnsafe(RECORD_HEADER);
    head.writeBigUInt64BE(BigInt(seq), 0);
    head[8] = stream;
    head.writeUInt32BE(data.length, 9);
    writeSync(seg.fd, head, 0, RECORD_HEADER, seg.size);
    writeSync(seg.fd, data, 0, data.length, seg.size + RECORD_HEADER);
    if (this.count === 0) {
      this.entries = [];
      this.head = 0;
      this.base = seq;
    }
    this.entries.push({ seg, offset: seg.size, length: data.length, stream });
    seg.lastSeq = seq;
    seg.size += RECORD_HEADER + data.length;
    this.diskBytes += RECORD_HEADER + data.length;
  }

  read(seq: number): SpooledChunk | undefined {
    if (seq < this.minSeq || seq > this.maxSeq) return undefined;
    const e = this.entries[seq - this.base]!;
    const data = Buffer.allocUnsafe(e.length);
    readSync(e.seg.fd, data, 0, e.length, e.offset + RECORD_HEADER);
    return { seq, stream: e.stream, data };
  }

  /** Forgets everything up to and including `seq`: the gateway has committed it. */
  ack(seq: number): void {
    const upto = Math.min(seq, this.maxSeq);
    if (upto < this.minSeq) return;
    this.head = upto - this.base + 1;
    while (this.segments.length > 0 && this.segments[0]!.lastSeq <= upto) {
      const seg = this.segments.shift()!;
      closeSync(seg.fd);
      rmSync(seg.file, { force: true });
      this.diskBytes -= seg.size;
    }
    // Compact the index now and then rather than shifting on every ack.
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.base += this.head;
      this.head = 0;
    }
  }

  /** Closes files; removes the spool directory when `remove` (the run is fully delivered). */
  close(remove: boolean): void {
    for (const seg of this.segments) closeSync(seg.fd);
    this.segments.length = 0;
    if (remove) rmSync(this.dir, { recursive: true, force: true });
  }
}
