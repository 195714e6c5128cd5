import { useCallback, useEffect, useRef, useState } from 'react';
import type { ApiChunk } from '../../../protocol/api.js';
import type { ViewChunk } from '../../../protocol/frames.js';
import type { ConnectionState, OperatorClient } from '../../client/operator-client.js';
import { EXIT } from '../../exit-codes.js';
import type { TuiApi } from '../api.js';
import { OutputModel, RAW_LENS, type EventDescriber, type ModelChunk, type OutputLens } from '../output-model.js';

export interface RunOutput {
  model: OutputModel;
  /** Changes whenever the model does. */
  version: number;
  /** The tail is loaded and live output is flowing. */
  live: boolean;
  loadingOlder: boolean;
  /** Nothing older than what is loaded (the run's first chunk is in). */
  atStart: boolean;
  error: string | null;
  /** Pages in the output before the oldest loaded chunk, from the store. */
  loadOlder(): void;
}

export interface RunOutputOptions {
  /** Bytes of the newest output loaded when a run is selected. */
  tailBytes?: number;
  /** Bytes per page when scrolling back. */
  pageBytes?: number;
  /** Milliseconds live chunks are gathered before the screen updates. */
  batchMs?: number;
  /** How runner events (stream 3) read as lines; later features describe their own events. A stable (module-level) function. */
  describe?: EventDescriber;
}

function fromApi(c: ApiChunk): ModelChunk {
  return { seq: c.seq, stream: c.stream, data: Buffer.from(c.data, 'base64'), time: c.time };
}

/**
 * The selected run's output: the newest `tailBytes` from the store (one bounded read, however
 * long the run), then live chunks over the operator socket from exactly the next seq. The
 * OperatorClient resubscribes from its next seq after any reconnect, so nothing is doubled or
 * lost; older output pages in on demand with `loadOlder`.
 */
export function useRunOutput(client: OperatorClient, api: TuiApi, runId: string | null, opts: RunOutputOptions = {}, lens: OutputLens = RAW_LENS): RunOutput {
  const tailBytes = opts.tailBytes ?? 64 * 1024;
  const pageBytes = opts.pageBytes ?? 128 * 1024;
  const batchMs = opts.batchMs ?? 25;
  const describe = opts.describe;
  const [model, setModel] = useState(() => new OutputModel());
  const [version, setVersion] = useState(0);
  const [live, setLive] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const loadingRef = useRef(false);
  const modelRef = useRef(model);
  const lensRef = useRef(lens);
  lensRef.current = lens;

  // Another lens (timeline ⇄ raw, or the run turned out to be a Claude run): same chunks, new lines.
  useEffect(() => {
    if (modelRef.current.lens === lens) return;
    modelRef.current.setLens(lens);
    setVersion((v) => v + 1);
  }, [lens]);

  useEffect(() => {
    const m = new OutputModel({ ...(describe ? { describe } : {}), lens: lensRef.current });
    modelRef.current = m;
    setModel(m);
    setVersion((v) => v + 1);
    setLive(false);
    setError(null);
    setLoadingOlder(false);
    loadingRef.current = false;
    if (!runId) return;
    let active = true;
    let subscribed = false;
    let starting = false;
    let batch: ModelChunk[] = [];
    let timer: NodeJS.Timeout | null = null;
    let retry: NodeJS.Timeout | null = null;
    const flush = () => {
      timer = null;
      if (!active || batch.length === 0) return;
      m.append(batch);
      batch = [];
      setVersion((v) => v + 1);
    };
    const onChunk = (c: ViewChunk) => {
      if (c.runId !== runId || !subscribed) return;
      batch.push({ seq: c.seq, stream: c.stream, data: c.data, time: c.time });
      timer ??= setTimeout(flush, batchMs);
    };
    const start = async () => {
      if (subscribed || starting || !active) return;
      starting = true;
      try {
        const page = await api.chunks(runId, { before: Number.MAX_SAFE_INTEGER, maxBytes: tailBytes, limit: 1000 });
        if (!active) return;
        m.append(page.chunks.map(fromApi));
        subscribed = true;
        client.subscribe(runId, { from: (m.lastSeq ?? page.lastSeq) + 1 });
        setVersion((v) => v + 1);
        setLive(true);
        setError(null);
      } catch (err) {
        if (!active) return;
        setError((err as Error).message);
        // Tried again when the socket (re)opens, or shortly; a run that does not exist is not.
        if ((err as { exit?: number }).exit !== EXIT.NOT_FOUND) retry = setTimeout(() => void start(), 2000);
      } finally {
        starting = false;
      }
    };
    const onState = (s: ConnectionState) => {
      if (s === 'open' && !subscribed) void start();
    };
    client.on('chunk', onChunk);
    client.on('state', onState);
    void start();
    return () => {
      active = false;
      client.off('chunk', onChunk);
      client.off('state', onState);
      if (timer) clearTimeout(timer);
      if (retry) clearTimeout(retry);
      if (subscribed) client.unsubscribe(runId);
    };
  }, [client, api, runId, tailBytes, batchMs, describe]);

  const loadOlder = useCallback(() => {
    const m = modelRef.current;
    const first = m.firstSeq;
    if (!runId || loadingRef.current || first === undefined || first <= 1) return;
    loadingRef.current = true;
    setLoadingOlder(true);
    api
      .chunks(runId, { before: first, maxBytes: pageBytes, limit: 1000 })
      .then((page) => {
        if (modelRef.current !== m) return;
        m.prepend(page.chunks.map(fromApi));
        setError(null);
        setVersion((v) => v + 1);
      })
      .catch((err: Error) => {
        if (modelRef.current === m) setError(`could not load older output: ${err.message}`);
      })
      .finally(() => {
        if (modelRef.current !== m) return;
        loadingRef.current = false;
        setLoadingOlder(false);
      });
  }, [api, runId, pageBytes]);

  const first = model.firstSeq;
  return { model, version, live, loadingOlder, atStart: first === undefined || first <= 1, error, loadOlder };
}
