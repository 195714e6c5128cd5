/**
 * Key and subject encoding for the JetStream store. KV keys allow `[-/_=.a-zA-Z0-9]` and subject
 * tokens may not hold `.`, `*`, `>` or white space, so one token of an id is used as it is when it
 * is plain (`[A-Za-z0-9_-]`, as run, approval and token ids are) and otherwise written as `=`
 * followed by its base64url (names of artifacts, users' lookup names, meta keys). A plain token
 * never starts with `=`, so the two never collide. `.` separates the parts of a key.
 */
const PLAIN = /^[A-Za-z0-9_-]{1,200}$/;

/** One key part or subject token for any string. */
export function keyPart(s: string): string {
  return PLAIN.test(s) ? s : `=${Buffer.from(s, 'utf8').toString('base64url')}`;
}

/** The string a key part stands for. */
export function fromKeyPart(part: string): string {
  return part.startsWith('=') ? Buffer.from(part.slice(1), 'base64url').toString('utf8') : part;
}

/** A key of several parts (`<runId>.<approvalId>`). */
export function joinKey(...parts: string[]): string {
  return parts.map(keyPart).join('.');
}

/** The parts of a key made by joinKey. */
export function splitKey(key: string): string[] {
  return key.split('.').map(fromKeyPart);
}

/** Names of everything the store creates in JetStream (one place, so docs and tests agree). */
export const RESOURCES = {
  out: 'CCG_OUT',
  audit: 'CCG_AUDIT',
  blobs: 'ccg_blobs',
  buckets: {
    runs: 'ccg_runs',
    users: 'ccg_users',
    tokens: 'ccg_tokens',
    sessions: 'ccg_sessions',
    meta: 'ccg_meta',
    approvals: 'ccg_approvals',
    push: 'ccg_push',
    artifacts: 'ccg_artifacts',
    term: 'ccg_term',
    nonces: 'ccg_nonces',
  },
} as const;

/** The subject of one chunk of a run's output. */
export function chunkSubject(runId: string, seq: number): string {
  return `ccg.out.${keyPart(runId)}.${seq}`;
}

/** The subject of every chunk of a run (a wildcard). */
export function runChunksSubject(runId: string): string {
  return `ccg.out.${keyPart(runId)}.*`;
}

export const AUDIT_SUBJECT = 'ccg.audit';
