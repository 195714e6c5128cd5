import type { ConsumerMessages } from '@nats-io/jetstream';
import type { AuditEntry } from '../types.js';
import { redactAuditEntry } from '../redact-audit.js';
import { AUDIT_SUBJECT, RESOURCES } from './keys.js';
import type { NatsLink } from './nats-link.js';

/** The newest entries every node keeps in memory for the audit page and API (the stream keeps the rest). */
export const AUDIT_TAIL = 10_000;

const decoder = new TextDecoder();

/**
 * The audit log on the `CCG_AUDIT` stream (subject `ccg.audit`), one message per entry, from
 * every node. JetStream enforces the retention and size budget itself (the stream's max_age and
 * max_bytes come from `--audit-retention` and `--audit-max-size`), so there is nothing to trim.
 * Reads are synchronous in the store's interface: each node follows the stream and keeps its
 * newest AUDIT_TAIL entries in memory, its own appended at once (by their stream sequence, so
 * the follower's copy of them is not added twice). Older entries stay in the stream, readable
 * with NATS tools, but the pages only go back that far.
 */
export class AuditLog {
  /** Ascending by stream sequence. */
  private readonly tail: { seq: number; entry: AuditEntry; size: number }[] = [];
  private messages: ConsumerMessages | null = null;
  /** The stream's state as last read: usage is that plus the entries heard since. */
  private server = { messages: 0, bytes: 0, lastSeq: 0 };

  constructor(private readonly link: NatsLink) {}

  /** Loads the newest entries and follows the stream. */
  async start(): Promise<void> {
    const info = await this.link.jsm.streams.info(RESOURCES.audit);
    this.server = { messages: info.state.messages, bytes: info.state.bytes, lastSeq: info.state.last_seq };
    const from = Math.max(info.state.first_seq, info.state.last_seq - AUDIT_TAIL + 1, 1);
    const consumer = await this.link.js.consumers.get(RESOURCES.audit, { deliver_policy: 'by_start_sequence', opt_start_seq: from });
    let ready!: () => void;
    const loaded = new Promise<void>((resolve) => (ready = resolve));
    this.messages = await consumer.consume({
      callback: (m) => {
        try {
          this.add(m.seq, JSON.parse(decoder.decode(m.data)) as AuditEntry, m.data.length);
        } catch {
          /* not an entry: skipped */
        }
        if (m.seq >= info.state.last_seq) ready();
      },
    });
    if (info.state.messages === 0 || info.state.last_seq < from) ready();
    await loaded;
  }

  async append(entry: AuditEntry): Promise<void> {
    this.link.mustBeUp();
    const clean = redactAuditEntry(entry);
    const body = JSON.stringify(clean);
    let seq: number;
    try {
      seq = (await this.link.js.publish(AUDIT_SUBJECT, body)).seq;
    } catch (err) {
      throw this.link.storageError(err, 'write of the audit log');
    }
    this.add(seq, clean, Buffer.byteLength(body));
  }

  private add(seq: number, entry: AuditEntry, size: number): void {
    const last = this.tail.at(-1);
    if (!last || last.seq < seq) this.tail.push({ seq, entry, size });
    else {
      // Arrived out of order (own entry first): insert in place, once.
      let lo = 0;
      let hi = this.tail.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.tail[mid]!.seq < seq) lo = mid + 1;
        else hi = mid;
      }
      if (this.tail[lo]?.seq === seq) return;
      this.tail.splice(lo, 0, { seq, entry, size });
    }
    if (this.tail.length > AUDIT_TAIL) this.tail.splice(0, this.tail.length - AUDIT_TAIL);
  }

  list(limit: number): AuditEntry[] {
    return this.tail.slice(-Math.max(0, limit)).reverse().map((e) => e.entry);
  }

  /** Newest first; the cursor is `<stream seq>.0` (the admin page's cursor shape). */
  page(limit: number, before?: string): { entries: AuditEntry[]; next: string | null } {
    const m = before ? /^(\d{1,16})\.\d{1,7}$/.exec(before) : null;
    const below = m ? Number(m[1]) : Number.POSITIVE_INFINITY;
    let end = this.tail.length;
    while (end > 0 && this.tail[end - 1]!.seq >= below) end--;
    const start = Math.max(0, end - limit);
    const slice = this.tail.slice(start, end).reverse();
    return { entries: slice.map((e) => e.entry), next: start > 0 && slice.length > 0 ? `${slice.at(-1)!.seq}.0` : null };
  }

  /** Entries and bytes in the stream: as last read from the server (`refresh`), plus the entries heard since. */
  usageNow(): { entries: number; bytes: number } {
    let entries = this.server.messages;
    let bytes = this.server.bytes;
    for (let i = this.tail.length - 1; i >= 0 && this.tail[i]!.seq > this.server.lastSeq; i--) {
      entries++;
      bytes += this.tail[i]!.size;
    }
    return { entries, bytes };
  }

  async refresh(): Promise<void> {
    const info = await this.link.jsm.streams.info(RESOURCES.audit);
    this.server = { messages: info.state.messages, bytes: info.state.bytes, lastSeq: info.state.last_seq };
  }

  async stop(): Promise<void> {
    await this.messages?.close().catch(() => undefined);
    this.messages = null;
  }
}
