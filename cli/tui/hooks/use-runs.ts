import { useEffect, useState } from 'react';
import type { RunSummary } from '../../../protocol/run.js';
import type { OperatorClient } from '../../client/operator-client.js';

/**
 * The newest runs, kept live: a snapshot on every (re)connect (`watch_runs`), then a `run`
 * message for every change. Newest first.
 */
export function useRuns(client: OperatorClient, limit = 200): RunSummary[] {
  const [runs, setRuns] = useState<RunSummary[]>([]);
  useEffect(() => {
    const byNewest = (a: RunSummary, b: RunSummary) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1);
    const onRuns = (list: RunSummary[]) => setRuns([...list].sort(byNewest).slice(0, limit));
    const onRun = (run: RunSummary) =>
      setRuns((prev) => {
        const i = prev.findIndex((r) => r.id === run.id);
        if (i >= 0) {
          // Progress updates can arrive out of order with state changes: never go back in time.
          if (prev[i]!.updatedAt > run.updatedAt) return prev;
          const next = [...prev];
          next[i] = run;
          return next;
        }
        return [run, ...prev].sort(byNewest).slice(0, limit);
      });
    client.on('runs', onRuns);
    client.on('run', onRun);
    client.watchRuns(limit);
    return () => {
      client.off('runs', onRuns);
      client.off('run', onRun);
    };
  }, [client, limit]);
  return runs;
}
