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
  /** Types `text` into the prompt labelled `label`, one key per write, and waits until it shows. */
  type(label: string, text: string): Promise<void>;
  /** Writes `chunk` to stdin as one read, as a terminal does with keys typed faster than they are read. */
  write(chunk: string): void;
  /** Everything the app wrote to its terminal so far (frames and any sequence written between them). */
  written(): string;
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
      // One write per key, back to back: each key is rendered before the next is read
      // (hooks/use-discrete-input.ts), so none is lost or reordered, however busy the machine.
      for (const ch of text) r.stdin.write(ch);
      const want = `${label} ${text}`;
      try {
        await waitFor(() => (frame().includes(want) ? true : undefined), 10_000, `"${want}" in the input line`);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- last frame ---\n${frame()}\n------------------`);
      }
    },
    write(chunk) {
      r.stdin.write(chunk);
    },
    written: () => r.frames.join(''),
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
