import { appendFileSync, existsSync, readFileSync } from 'node:fs';

/**
 * Request ids the gateway has used: each exec, collect or assist request id is accepted once.
 * Kept in a file beside the spool, so a replay is refused even by a restarted runner.
 */
export class UsedIds {
  private readonly ids = new Set<string>();

  constructor(private readonly file: string) {
    if (existsSync(file)) for (const id of readFileSync(file, 'utf8').split('\n')) if (id) this.ids.add(id);
  }

  /** Records `id`; false when it was seen before (a replay). */
  claim(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    appendFileSync(this.file, id + '\n', { mode: 0o600 });
    return true;
  }
}
