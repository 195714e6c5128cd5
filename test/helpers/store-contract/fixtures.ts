import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { ArtifactInfo } from '../../../protocol/artifacts.js';
import type { Approval } from '../../../protocol/claude-control.js';
import type { RunStatus } from '../../../protocol/run.js';
import type { ApiTokenRecord, RunRecord, SessionRecord, Store, StoredChunk, UserRecord } from '../../../server/store/types.js';

/** One store under test: open on fresh, empty data. */
export interface StoreUnderTest {
  store: Store;
  /**
   * Closes the store (as a gateway stopping) and opens a new one over the same data: what a
   * write resolved before must be there. `store` then names the new one.
   */
  reopen(): Promise<Store>;
  /**
   * A second, independent store over the same data, as another gateway node (a cluster store
   * only; absent for an embedded store). Closed by `close()`.
   */
  peer?(): Promise<Store>;
  /** Closes every store it opened and removes the data. */
  close(): Promise<void>;
}

export type OpenStore = () => Promise<StoreUnderTest>;

/** What an implementation does its own way, where the contract allows two. */
export interface StoreTraits {
  /**
   * Nonces expire and the audit log keeps to its budget by themselves (JetStream: the nonce
   * bucket's max_age, the audit stream's max_age and max_bytes), so `pruneNonces` and `trimAudit`
   * resolve 0 and change nothing. Otherwise (LMDB) they do the work when called.
   */
  expiresByItself?: boolean;
}

/** How a group registers its tests: `t(title, body)` opens a fresh store for each. */
export type ContractTest = (title: string, body: (h: StoreUnderTest) => Promise<void>, opts?: { needsPeer?: boolean }) => void;

/** Registers one node:test test per contract item, each on a fresh store. */
export function contractTest(name: string, open: OpenStore, timeout: number): ContractTest {
  return (title, body, opts = {}) => {
    test(`${name} store contract: ${title}`, { timeout }, async (t) => {
      const h = await open();
      try {
        if (opts.needsPeer && !h.peer) {
          t.skip('a single-node store has no peer');
          return;
        }
        await body(h);
      } finally {
        await h.close();
      }
    });
  };
}

/**
 * Ids with what a key encoding may trip on: separators of NATS subjects and KV keys (`.`, `/`,
 * `*`, `>`), path parts, spaces, non-ASCII, and a long one. The store must keep them apart and
 * give each back exactly.
 */
export const ODD_IDS = ['a.b.c', 'a', 'a.b', 'a/b/../c', '..', '*', '>', 'with space', 'ünïcødé', '日本語', '😀x', 'a=b+c', '-_', 'x'.repeat(300)];

export function makeRun(id: string, over: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    name: `run ${id}`,
    status: 'created',
    runnerConnected: false,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    startedAt: null,
    endedAt: null,
    exitCode: null,
    signal: null,
    reason: null,
    lastSeq: 0,
    bytes: 0,
    createdBy: 'alice',
    runner: null,
    tokenBox: 'box:' + id,
    cancelRequestedBy: null,
    ...over,
  };
}

export function withStatus(run: RunRecord, status: RunStatus): RunRecord {
  return { ...run, status };
}

/** A chunk whose bytes say which run and seq it is (and hold every byte value a copy might mangle). */
export function makeChunk(runId: string, seq: number, size = 16, stream = 1): StoredChunk {
  const data = Buffer.alloc(size);
  const tag = Buffer.from(`${seq}:`);
  for (let i = 0; i < size; i++) data[i] = i < tag.length ? tag[i]! : (seq * 31 + i * 7 + runId.length) & 0xff;
  return { seq, stream, time: 1_700_000_000_000 + seq * 1000 + 0.5, data };
}

export function chunkView(c: StoredChunk): { seq: number; stream: number; time: number; data: string } {
  return { seq: c.seq, stream: c.stream, time: c.time, data: Buffer.from(c.data).toString('hex') };
}

export function makeUser(id: string, name: string, over: Partial<UserRecord> = {}): UserRecord {
  return {
    id,
    name,
    email: `${name}@example.test`,
    role: 'operator',
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
    disabled: false,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    createdBy: 'setup',
    totp: null,
    totpPending: null,
    credGen: 0,
    ...over,
  };
}

export function makeToken(id: string, over: Partial<ApiTokenRecord> = {}): ApiTokenRecord {
  return { id, name: `token ${id}`, role: 'operator', userId: null, createdAt: 1_700_000_000_000, revokedAt: null, credGen: 0, ...over };
}

export function makeSession(userId: string, over: Partial<SessionRecord> = {}): SessionRecord {
  return { userId, createdAt: 1_700_000_000_000, lastSeenAt: 1_700_000_000_000, csrf: `csrf-${userId}`, stage: 'full', via: 'password', remote: '127.0.0.1', userAgent: 'test', credGen: 0, ...over };
}

export function makeApproval(runId: string, approvalId: string, over: Partial<Approval> = {}): Approval {
  return {
    approvalId,
    toolName: 'Bash',
    displayName: 'Bash',
    toolUseId: `toolu_${approvalId}`,
    input: { command: 'rm -rf build', nested: { list: [1, 'two', null] } },
    inputTruncated: false,
    description: 'clean the build',
    blockedPath: null,
    rule: null,
    expiresAt: 1_700_000_600_000,
    runId,
    state: 'pending',
    requestedAt: 1_700_000_000_000,
    answer: null,
    resolution: null,
    ...over,
  };
}

export function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function makeArtifact(name: string, content: string, over: Partial<ArtifactInfo> = {}): ArtifactInfo {
  return {
    name,
    kind: 'file',
    bytes: Buffer.byteLength(content),
    sha256: sha(content),
    contentType: 'text/plain; charset=utf-8',
    truncated: false,
    originalBytes: null,
    redacted: true,
    collection: null,
    uploadedAt: 1_700_000_000_000,
    ...over,
  };
}

/**
 * Waits until `check` passes (a peer's mirror follows the other node's writes a little later);
 * fails with the last assertion error after `ms`.
 */
export async function eventually(check: () => void | Promise<void>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** The store as it is, then the store reopened over the same data: each check runs on both. */
export async function* nowAndReopened(h: StoreUnderTest): AsyncGenerator<Store> {
  yield h.store;
  yield await h.reopen();
}

/** Mutates a record a store handed out, if it lets us (a frozen one throws: that is fine too). */
export function tamper(fn: () => void): void {
  try {
    fn();
  } catch {
    /* frozen: nothing changed, which is what the test wants */
  }
}

export { assert };
