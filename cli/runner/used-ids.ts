import { appendFileSync, existsSync, readFileSync } from 'node:fs';

/**
 * Request ids the gateway has used: each exec, collect or assist request id is accepted once.
 * Kept in a file beside the spool, so a replay is refused even by a restarted runner.
 */
export class UsedIds {
  private readonly ids = new Set<string>();

  constructor(
    private readonly file: string,
    /** At most this many requests per run: a gateway sending more is flooding (memory, the file). */
    private readonly max = MAX_REQUESTS,
  ) {
    if (existsSync(file)) for (const id of readFileSync(file, 'utf8').split('\n')) if (id) this.ids.add(id);
  }

  /** Records `id`; the reason to refuse it when it was seen before (a replay) or the run had its share. */
  claim(id: string): string | null {
    if (this.ids.has(id)) return 'request id already used (replay)';
    if (this.ids.size >= this.max) return `this run has had its ${this.max} requests`;
    this.ids.add(id);
    appendFileSync(this.file, id + '\n', { mode: 0o600 });
    return null;
  }
}

/** Requests (commands, collections, assist) one run takes from its gateway, malformed ones included. */
export const MAX_REQUESTS = 10_000;
