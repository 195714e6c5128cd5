import { useEffect, useState } from 'react';
import { LiveTextView, type OperatorLiveText } from '../../../protocol/claude-live.js';
import type { OperatorClient } from '../../client/operator-client.js';

/** The screen follows live text at most this often. */
const LIVE_TUI_MS = 100;

/**
 * The reply Claude is writing in the selected run (live text, protocol/claude-live.ts), or null.
 * It arrives on the output hook's subscription; the stored message replaces it (the gateway says
 * `done` once it is in).
 */
export function useLiveText(client: OperatorClient, runId: string | null): string | null {
  const [text, setText] = useState<string | null>(null);
  useEffect(() => {
    setText(null);
    if (!runId) return;
    const view = new LiveTextView();
    let timer: NodeJS.Timeout | null = null;
    const show = () => {
      timer = null;
      setText(view.messageId === null ? null : view.text);
    };
    const onLive = (m: OperatorLiveText) => {
      if (m.runId !== runId) return;
      view.apply(m);
      if (m.done) {
        if (timer) clearTimeout(timer);
        show();
        return;
      }
      timer ??= setTimeout(show, LIVE_TUI_MS);
    };
    client.on('live_text', onLive);
    return () => {
      client.off('live_text', onLive);
      if (timer) clearTimeout(timer);
    };
  }, [client, runId]);
  return text;
}
