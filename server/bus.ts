import type { RunSummary } from '../protocol/run.js';
import type { StoredChunk } from './store/types.js';

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
}

export class LocalBus implements EventBus {
  private readonly chunkListeners = new Map<string, Set<(chunk: StoredChunk) => void>>();
  private readonly runListeners = new Set<(run: RunSummary) => void>();

  publishChunk(runId: string, chunk: StoredChunk): void {
    const set = this.chunkListeners.get(runId);
    if (set) for (const l of set) l(chunk);
  }

  publishRun(run: RunSummary): void {
    for (const l of this.runListeners) l(run);
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
}
