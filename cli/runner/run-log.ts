import { closeSync, fstatSync, openSync, readSync, renameSync, writeSync } from 'node:fs';

/**
 * The run log artifact: the child's output (stdout and stderr interleaved, already redacted), as
 * it went to the gateway. Kept in the spool directory; bounded on disk to twice the cap, keeping
 * the newest output (the end of a log is where the failure is).
 */
export class RunLog {
  private fd: number;
  private size = 0;
  /** Bytes dropped from the front to stay within bounds. */
  private dropped = 0;
  /** Appended but not yet written: one write per 64 KiB, not one per read of the child's pipe. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly file: string,
    private readonly cap: number,
  ) {
    this.fd = openSync(file, 'a+', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  append(data: Uint8Array): void {
    if (this.fd < 0 || data.length === 0) return;
    this.pending.push(Buffer.from(data));
    this.pendingBytes += data.length;
    if (this.pendingBytes >= 64 * 1024) this.writePending();
  }

  private writePending(): void {
    if (this.pendingBytes === 0) return;
    writeSync(this.fd, Buffer.concat(this.pending, this.pendingBytes));
    this.size += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.size > 2 * this.cap) this.compact();
  }

  /** The newest `max` bytes, and how many bytes before them are missing. */
  read(max: number): { data: Buffer; omitted: number; total: number } {
    if (this.fd >= 0) this.writePending();
    const total = this.dropped + this.size;
    if (this.fd < 0) return { data: Buffer.alloc(0), omitted: total, total };
    const len = Math.min(max, this.size);
    const data = Buffer.alloc(len);
    let off = 0;
    while (off < len) {
      const n = readSync(this.fd, data, off, len - off, this.size - len + off);
      if (n === 0) break;
      off += n;
    }
    return { data: data.subarray(0, off), omitted: total - off, total };
  }

  close(): void {
    if (this.fd >= 0) {
      this.writePending();
      closeSync(this.fd);
    }
    this.fd = -1;
  }

  private compact(): void {
    const { data } = this.read(this.cap);
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    writeSync(fd, data);
    closeSync(fd);
    renameSync(tmp, this.file);
    closeSync(this.fd);
    this.fd = openSync(this.file, 'a+', 0o600);
    this.dropped += this.size - data.length;
    this.size = data.length;
  }
}
