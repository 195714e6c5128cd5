import type { TermSnapshot, TermSnapshotStore } from '../types.js';
import { keyPart } from './keys.js';
import type { KvMirror } from './kv-mirror.js';

/** A snapshot whose JSON is at most this large is one KV value. */
const INLINE_MAX = 512 * 1024;
/** A larger one is cut into parts of this many bytes (base64 in a KV value, under NATS's 1 MB message limit). */
const PART_BYTES = 512 * 1024;

/** The head of a snapshot kept in parts: which seq, and how many parts. */
interface PartedHead {
  seq: number;
  cols: number;
  rows: number;
  at: number;
  parts: number;
}

/** `ccg_term`: `<runId>` → the snapshot, or the head of one in parts `p.<runId>.<seq>.<i>` (base64 of its UTF-8). */
export type TermValue = TermSnapshot | PartedHead | string;

const partKey = (runId: string, seq: number, i: number) => `p.${keyPart(runId)}.${seq}.${i}`;

/**
 * The newest screen snapshot of each pty run on the `ccg_term` bucket. A snapshot can be about
 * 10 MB (a 1000×500 screen, every cell coloured), past NATS's message limit, so a large one is
 * written in parts first and its head last: every node's watcher sees the parts before the head
 * (one stream, in order). The head is a revision-checked write that never replaces a newer
 * snapshot; the parts of the snapshot it replaced are deleted after it.
 */
export class JsTermSnapshots implements TermSnapshotStore {
  /** Joined large snapshots, by run: joined once, not at every read. */
  private readonly joined = new Map<string, TermSnapshot>();

  constructor(private readonly kv: KvMirror<TermValue>) {
    kv.onChange((c) => {
      if (c.value === undefined && !c.key.startsWith('p.')) this.joined.delete(c.key);
    });
  }

  async putTermSnapshot(runId: string, snap: TermSnapshot): Promise<void> {
    const head = keyPart(runId);
    const newer = (old: TermValue | undefined) => !old || typeof old === 'string' || old.seq < snap.seq;
    if (JSON.stringify(snap).length <= INLINE_MAX) {
      let replaced: TermValue | undefined;
      const won = await this.kv.upsert(head, (old) => ((replaced = old), newer(old) ? snap : undefined));
      if (won) await this.dropParts(runId, replaced);
      return;
    }
    if (!newer(this.kv.peek(head) as TermValue | undefined)) return;
    const bytes = Buffer.from(snap.data, 'utf8');
    const parts = Math.ceil(bytes.length / PART_BYTES);
    await Promise.all(Array.from({ length: parts }, (_, i) => this.kv.put(partKey(runId, snap.seq, i), bytes.subarray(i * PART_BYTES, (i + 1) * PART_BYTES).toString('base64'))));
    let replaced: TermValue | undefined;
    const won = await this.kv.upsert(head, (old) => ((replaced = old), newer(old) ? { seq: snap.seq, cols: snap.cols, rows: snap.rows, at: snap.at, parts } : undefined));
    if (!won) {
      await this.dropParts(runId, { seq: snap.seq, cols: 0, rows: 0, at: 0, parts });
      return;
    }
    this.joined.set(head, snap);
    await this.dropParts(runId, replaced);
  }

  private async dropParts(runId: string, old: TermValue | undefined): Promise<void> {
    if (!old || typeof old === 'string' || !('parts' in old)) return;
    await Promise.all(Array.from({ length: old.parts }, (_, i) => this.kv.delete(partKey(runId, old.seq, i)))).catch(() => undefined);
  }

  latestTermSnapshot(runId: string): TermSnapshot | undefined {
    const head = keyPart(runId);
    const h = this.kv.peek(head) as Readonly<TermSnapshot | PartedHead> | undefined;
    if (!h || typeof h === 'string') return undefined;
    if (!('parts' in h)) return { ...h };
    const joined = this.joined.get(head);
    if (joined?.seq === h.seq) return joined;
    const parts: Buffer[] = [];
    for (let i = 0; i < h.parts; i++) {
      const p = this.kv.peek(partKey(runId, h.seq, i));
      if (typeof p !== 'string') return joined; // not all here yet: the one before
      parts.push(Buffer.from(p, 'base64'));
    }
    const snap: TermSnapshot = { seq: h.seq, cols: h.cols, rows: h.rows, at: h.at, data: Buffer.concat(parts).toString('utf8') };
    this.joined.set(head, snap);
    return snap;
  }
}
