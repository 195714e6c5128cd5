import { randomBytes } from 'node:crypto';

/** How long a form's answer is kept for a repeat of the same post (a double tap, a resend). */
const KEEP_MS = 10 * 60_000;
/** At most this many answers are kept; the oldest go first. */
const MAX_KEPT = 5000;
const ONCE_RE = /^[A-Za-z0-9_-]{22}$/;

/**
 * Forms that must act once however often they are posted: "Start Claude" on a machine, "Create
 * run". Each rendering carries a fresh `_once` value; a post that repeats one (a double tap, a
 * phone resending after a stall) gets the first post's answer instead of a second run.
 *
 * @example
 * const id = await once.run(session, form.get('_once'), () => startRun());
 */
export class OnceForms<T> {
  private readonly kept = new Map<string, { at: number; answer: Promise<T> }>();

  constructor(private readonly now: () => number) {}

  /** A value for a new form's `_once` field. */
  issue(): string {
    return randomBytes(16).toString('base64url');
  }

  /** The answer to this form: `act`'s, or the first post's when `once` was posted before in this session. */
  run(session: string, once: string | null | undefined, act: () => Promise<T>): Promise<T> {
    if (!once || !ONCE_RE.test(once)) return act();
    const now = this.now();
    for (const [k, v] of this.kept) {
      if (now - v.at < KEEP_MS && this.kept.size <= MAX_KEPT) break;
      this.kept.delete(k);
    }
    const key = `${session}\0${once}`;
    const seen = this.kept.get(key);
    if (seen) return seen.answer;
    const answer = act();
    this.kept.set(key, { at: now, answer });
    // A post that failed may be tried again (the page shows the form again, with a new value).
    answer.catch(() => this.kept.delete(key));
    return answer;
  }
}
