import type { KV } from '@nats-io/kv';
import { MAX_CHUNK_DATA } from '../../../protocol/frames.js';
import { AUDIT_SUBJECT, RESOURCES } from './keys.js';
import type { NatsLink } from './nats-link.js';

/** A KV value may be this large (a pty run's screen snapshot is the largest). */
const MAX_VALUE = 1024 * 1024;

/**
 * Creates (or checks) every JetStream resource the store uses, with the same configuration on
 * every node, and opens the buckets:
 *
 * - `CCG_OUT` (`ccg.out.>`): one message per chunk; one per subject, a second refused for ever
 *   (`discard: new` + `discard_new_per_subject`), direct gets from any replica.
 * - `CCG_AUDIT` (`ccg.audit`): the audit log; JetStream drops entries past the retention and
 *   the size budget (`discard: old`).
 * - The KV buckets (history 1), `ccg_nonces` with a max_age of `nonceTtlMs`.
 */
export async function createResources(link: NatsLink, o: { audit: { retentionMs: number; maxBytes: number }; nonceTtlMs: number }): Promise<Map<string, KV>> {
  await link.ensureStream({
    name: RESOURCES.out,
    subjects: ['ccg.out.>'],
    storage: 'file',
    retention: 'limits',
    max_msgs_per_subject: 1,
    discard: 'new',
    discard_new_per_subject: true,
    allow_direct: true,
    max_msg_size: MAX_CHUNK_DATA + 4096,
    duplicate_window: 120 * 1_000_000_000,
  });
  await link.ensureStream(
    {
      name: RESOURCES.audit,
      subjects: [AUDIT_SUBJECT],
      storage: 'file',
      retention: 'limits',
      discard: 'old',
      allow_direct: true,
      max_age: o.audit.retentionMs * 1_000_000,
      max_bytes: o.audit.maxBytes,
    },
    ['max_age', 'max_bytes'],
  );
  const kvs = new Map<string, KV>();
  for (const name of Object.values(RESOURCES.buckets)) {
    kvs.set(name, await link.ensureBucket(name, { maxValueSize: MAX_VALUE, ...(name === RESOURCES.buckets.nonces ? { ttlMs: o.nonceTtlMs } : {}) }));
  }
  return kvs;
}
