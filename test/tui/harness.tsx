import { render } from 'ink-testing-library';
import { ApiClient } from '../../cli/client/api.js';
import { OperatorClient } from '../../cli/client/operator-client.js';
import type { CliError } from '../../cli/exit-codes.js';
import { createTuiApi } from '../../cli/tui/api.js';
import { App, type AppProps } from '../../cli/tui/app.js';
import { waitFor } from '../helpers/processes.js';

export const KEYS = {
  up: '\u001B[A',
  down: '\u001B[B',
  right: '\u001B[C',
  left: '\u001B[D',
  pageUp: '\u001B[5~',
  pageDown: '\u001B[6~',
  enter: '\r',
  escape: '\u001B',
  end: '\u001B[F',
  home: '\u001B[H',
};

export interface Tui {
  frame(): string;
  /** Types keys one event at a time, letting the app render in between (as a person types). */
  press(...keys: string[]): Promise<void>;
  /**
   * Types into the prompt labelled `label` as a person does: a key, then a look at the screen.
   * (Ink re-attaches ink-text-input's handler in an effect after each render; on a starved
   * machine a key sent the moment the frame changes can still reach the previous handler.)
   */
  type(label: string, text: string): Promise<void>;
  /** Waits until the frame satisfies `check`; fails with the last frame in the message. */
  until(check: (frame: string) => boolean, what: string, ms?: number): Promise<string>;
  client: OperatorClient;
  exit(): { code: number; error?: CliError } | undefined;
  rerender(props: Partial<AppProps>): void;
  close(): void;
}

/** The real App with a real OperatorClient and API client against `gateway`, in ink-testing-library. */
export function startTui(gateway: { url: string; token: string; fingerprint: string }, props: Partial<AppProps> = {}): Tui {
  const target = { gateway: gateway.url, token: gateway.token, fingerprint: gateway.fingerprint };
  const client = new OperatorClient(target, { reconnect: true, client: 'ccg-tui-test' }).start();
  const api = createTuiApi(new ApiClient(target));
  let exited: { code: number; error?: CliError } | undefined;
  const base: AppProps = {
    client,
    api,
    gateway: gateway.url,
    size: { columns: 80, rows: 24 },
    theme: { color: false },
    onExit: (r) => {
      exited = r;
    },
    ...props,
  };
  const r = render(<App {...base} />);
  const frame = () => r.lastFrame() ?? '';
  return {
    frame,
    async press(...keys) {
      for (const k of keys) {
        r.stdin.write(k);
        // A lone Escape is held by Ink until the next tick (it could start a sequence).
        await new Promise((res) => setTimeout(res, 40));
      }
    },
    async type(label, text) {
      for (let i = 1; i <= text.length; i++) {
        r.stdin.write(text[i - 1]!);
        const want = `${label} ${text.slice(0, i)}`;
        await waitFor(() => (frame().includes(want) ? true : undefined), 10_000, `"${want}" in the input line`);
        // The frame is drawn at commit; the handler is re-attached in a passive effect, which
        // React's scheduler runs in a later setImmediate (later still when it yields on a busy
        // machine). Let those run before the next key.
        for (let k = 0; k < 5; k++) await new Promise((res) => setImmediate(res));
        await new Promise((res) => setTimeout(res, 20));
      }
    },
    async until(check, what, ms = 10_000) {
      try {
        await waitFor(() => (check(frame()) ? true : undefined), ms, what);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- last frame ---\n${frame()}\n------------------`);
      }
      return frame();
    },
    client,
    exit: () => exited,
    rerender: (p) => r.rerender(<App {...base} {...p} />),
    close() {
      r.unmount();
      client.close();
    },
  };
}
