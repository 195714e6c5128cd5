import type { RunSummary } from '../../protocol/run.js';
import type { Logger } from '../log.js';
import type { AuthChange, StoredChunk } from '../store/types.js';

/**
 * Fan-out of committed output and run changes to whoever watches: operator sockets today, other
 * gateways' subscribers in a clustered deployment (the same interface over NATS or Postgres
 * LISTEN/NOTIFY). Publishers only ever publish what the store has committed.
 */
export interface EventBus {
  publishChunk(runId: string, chunk: StoredChunk): void;
  publishRun(run: RunSummary): void;
  onChunk(runId: string, listener: (chunk: StoredChunk) => void): () => void;
  onRun(listener: (run: RunSummary) => void): () => void;
  /** A token, user or session changed (revoked, disabled, deleted, demoted): open connections re-check. */
  publishAuthChange(change: AuthChange): void;
  onAuthChange(listener: (change: AuthChange) => void): () => void;
}

/**
 * The in-process bus. Publishers are the ingest path and the run service: a listener that throws
 * must not break them (nor the listeners after it, nor the gateway), so each listener is called
 * on its own; one that throws is logged and dropped. (A renderer bug reached through a viewer's
 * listener once took the whole gateway down.)
 */
export class LocalBus implements EventBus {
  private readonly chunkListeners = new Map<string, Set<(chunk: StoredChunk) => void>>();
  private readonly runListeners = new Set<(run: RunSummary) => void>();
  private readonly authListeners = new Set<(change: AuthChange) => void>();

  constructor(private readonly log?: Logger) {}

  publishChunk(runId: string, chunk: StoredChunk): void {
    const set = this.chunkListeners.get(runId);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l(chunk);
      } catch (err) {
        set.delete(l);
        if (set.size === 0 && this.chunkListeners.get(runId) === set) this.chunkListeners.delete(runId);
        this.log?.error('bus.listener_failed', { run: runId, what: 'chunk', err: String(err).slice(0, 300) });
      }
    }
  }

  publishRun(run: RunSummary): void {
    for (const l of [...this.runListeners]) {
      try {
        l(run);
      } catch (err) {
        this.runListeners.delete(l);
        this.log?.error('bus.listener_failed', { run: run.id, what: 'run', err: String(err).slice(0, 300) });
      }
    }
  }

  onChunk(runId: string, listener: (chunk: StoredChunk) => void): () => void {
    let set = this.chunkListeners.get(runId);
    if (!set) this.chunkListeners.set(runId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.chunkListeners.delete(runId);
    };
  }

  onRun(listener: (run: RunSummary) => void): () => void {
    this.runListeners.add(listener);
    return () => this.runListeners.delete(listener);
  }

  publishAuthChange(change: AuthChange): void {
    for (const l of [...this.authListeners]) {
      try {
        l(change);
      } catch (err) {
        this.log?.error('bus.listener_failed', { what: 'auth', err: String(err).slice(0, 300) });
      }
    }
  }

  onAuthChange(listener: (change: AuthChange) => void): () => void {
    this.authListeners.add(listener);
    return () => this.authListeners.delete(listener);
  }
}
