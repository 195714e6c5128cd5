import { createHash, randomBytes } from 'node:crypto';

/** How long a form's answer is kept for a repeat of the same post (a double tap, a phone's resend). */
const KEEP_MS = 2 * 60_000;
/** At most this many answers are kept; the oldest go first. */
const MAX_KEPT = 5000;
const ONCE_RE = /^[A-Za-z0-9_-]{22}$/;

/**
 * Forms that must act once however often they are posted: "Start Claude" on a machine, "Create
 * run". Each rendering carries a fresh `_once` value; a post that repeats one (a double tap, a
 * phone resending after a stall) with the same fields gets the first post's answer instead of a
 * second run. The same form sent again with other fields (Back, a new prompt) acts again. Kept in
 * this process only: a repeat that reaches another cluster node acts again.
 *
 * @example
 * const id = await once.run(session, form.get('_once'), `start ${machine} ${prompt}`, () => startRun());
 */
export class OnceForms<T> {
  private readonly kept = new Map<string, { at: number; answer: Promise<T> }>();

  constructor(private readonly now: () => number) {}

  /** A value for a new form's `_once` field. */
  issue(): string {
    this.sweep();
    return randomBytes(16).toString('base64url');
  }

  /** Drops answers past KEEP_MS (they may hold a run's token) and the oldest past MAX_KEPT. */
  private sweep(): void {
    const now = this.now();
    for (const [k, v] of this.kept) {
      if (now - v.at < KEEP_MS && this.kept.size <= MAX_KEPT) break;
      this.kept.delete(k);
    }
  }

  /**
   * The answer to this form: `act`'s, or the first post's when `once` was posted before in this
   * session with the same `fields` (the route and what the form says, in one string).
   */
  run(session: string, once: string | null | undefined, fields: string, act: () => Promise<T>): Promise<T> {
    this.sweep();
    if (!once || !ONCE_RE.test(once)) return act();
    const key = `${session}\0${once}\0${createHash('sha256').update(fields).digest('base64url')}`;
    const seen = this.kept.get(key);
    if (seen) return seen.answer;
    const answer = act();
    this.kept.set(key, { at: this.now(), answer });
    // A post that failed may be tried again (the page shows the form again, with a new value).
    answer.catch(() => this.kept.delete(key));
    return answer;
  }
}
