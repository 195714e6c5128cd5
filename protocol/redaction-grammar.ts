/**
 * What a secret's continuation looks like, for the streaming redactor: when a held fragment that
 * may begin a secret has to be released after a pause, it is released redacted, and what follows
 * it is redacted too for as long as it can still be part of that secret (its "grammar").
 *
 * Text here is latin1, as in redaction.ts.
 */

/** How the bytes after a released secret start are consumed. */
export type Continuation =
  /** Characters of `cls` are dropped (at most `left`; leading blanks first when `blanks`). */
  | { mode: 'class'; cls: (c: number) => boolean; left: number; blanks: boolean }
  /**
   * An Authorization header's value: blanks, then a scheme word (any: `Bot`, `Negotiate`…) and
   * blanks (`gap`) before the credential, or the credential itself (`word1` not scheme-like); it
   * ends at the blank after it. A quoted value (`"authorization": "…"`) is `quoted`: it
   * ends at a quote or the line's end, whatever it holds.
   */
  | { mode: 'auth'; stage: 'lead' | 'word1' | 'gap' | 'word2' | 'quoted'; word: string }
  /** A private key header still being written: `head` is what it has so far. */
  | { mode: 'pem-head'; head: string }
  /** Inside a private key block: everything up to its END line is dropped; `tail` finds a split END. */
  | { mode: 'pem-body'; tail: string }
  /** Part of an exact secret value: dropped while it goes on matching one of `rest`. */
  | { mode: 'literal'; rest: string[] };

/** An unfinished secret at the end of a held fragment: replace from `at` on, then continue with `next`. */
export interface OpenSecret {
  at: number;
  /** Where the part kept in clear before `at` begins (a header name): text up to it is redacted as usual. */
  keepFrom: number;
  kind: string;
  next: Continuation;
}

const alnum = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const upperNum = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90);
const withDash = (c: number) => alnum(c) || c === 45 || c === 95; // A-Za-z0-9_-
const slackCls = (c: number) => alnum(c) || c === 45;
const patCls = (c: number) => alnum(c) || c === 95;
const jwtCls = (c: number) => withDash(c) || c === 46;
const BEARER_CHARS = new Set([...'._~+/=-'].map((ch) => ch.charCodeAt(0)));
const bearerCls = (c: number) => alnum(c) || BEARER_CHARS.has(c);

/** Token formats: a starter, then characters of one class (at most `max` of them). Same formats as RULES. */
const TOKENS: { kind: string; starter: RegExp; cls: (c: number) => boolean; max: number }[] = [
  { kind: 'anthropic', starter: /sk-ant-/g, cls: withDash, max: Infinity },
  { kind: 'openai', starter: /sk-/g, cls: withDash, max: Infinity },
  { kind: 'github', starter: /github_pat_/g, cls: patCls, max: 255 },
  { kind: 'github', starter: /gh[pousr]_/g, cls: alnum, max: 255 },
  { kind: 'aws', starter: /AKIA|ASIA/g, cls: upperNum, max: 16 },
  { kind: 'slack', starter: /xox[abposr]-/g, cls: slackCls, max: Infinity },
  { kind: 'jwt', starter: /eyJ/g, cls: jwtCls, max: Infinity },
  { kind: 'ccg-token', starter: /ccg[rom]_/g, cls: withDash, max: 43 },
];

/** A private key header still being written (`PRIVATE KEY-----` or `PRIVATE KEY BLOCK-----`, PGP). */
export const PEM_HEAD_PREFIX = /^-----BEGIN[A-Z0-9 ]{0,40}(P(R(I(V(A(T(E( (K(E(Y( BLOCK)?(-{1,5})?)?)?)?)?)?)?)?)?)?)?)?$/;
export const PEM_HEAD = /^-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/;
export const PEM_END = /-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/;
/** An Authorization header or field name up to its value (same as the rules in redaction.ts). */
const AUTH = /authorization["']?[ \t]*[:=][ \t]*(["']?)/i;
/** A word that reads as an Authorization scheme (kept in clear, the credential after it is not). */
export const SCHEME_LIKE = /^[a-z][a-z0-9-]{1,19}$/i;
const BEARER = /\bbearer[ \t]+/i;
/** The bearer rule's shortest credential (RULES in redaction.ts). */
const BEARER_MIN = 16;
/** A held exact-value prefix this long is released redacted; a shorter one stays held. */
export const MIN_LITERAL_PREFIX = 4;

/** Length of the run of `cls` characters at the start of `text` from `from`, up to `max`. */
function runOf(text: string, from: number, cls: (c: number) => boolean, max: number): number {
  let i = from;
  while (i < text.length && i - from < max && cls(text.charCodeAt(i))) i++;
  return i - from;
}

/**
 * The earliest unfinished secret that runs to the end of `text` (which is about to be released
 * after a pause), or null. `literals` are the exact values being redacted.
 */
export function openSecret(text: string, literals: readonly { value: string; kind: string }[], holding: boolean): OpenSecret | null {
  const found: OpenSecret[] = [];
  // A private key block without its END.
  const begin = text.lastIndexOf('-----BEGIN');
  if (begin !== -1 && !PEM_END.test(text.slice(begin))) {
    const head = text.slice(begin);
    if (PEM_HEAD.test(head)) found.push({ at: begin, keepFrom: begin, kind: 'private-key', next: { mode: 'pem-body', tail: head.slice(-60) } });
    else if (!/[\r\n]/.test(head) && PEM_HEAD_PREFIX.test(head)) found.push({ at: begin, keepFrom: begin, kind: 'private-key', next: { mode: 'pem-head', head } });
  }
  // The last line's Authorization header or Bearer credential.
  const lineStart = Math.max(text.lastIndexOf('\n'), text.lastIndexOf('\r')) + 1;
  const line = text.slice(lineStart);
  const auth = AUTH.exec(line);
  if (auth) {
    const at = lineStart + auth.index + auth[0].length;
    // Run the value's grammar over what is there: open if it has not ended by the end of the text.
    const start: Continuation = { mode: 'auth', stage: auth[1] ? 'quoted' : 'lead', word: '' };
    const c = continueSecret(start, text.slice(at));
    if (c.next) found.push({ at, keepFrom: lineStart + auth.index, kind: 'authorization', next: c.next });
  } else {
    const bearer = BEARER.exec(line);
    if (bearer) {
      const at = lineStart + bearer.index + bearer[0].length;
      // Prose says "bearer of news": where tails are held (the runner), "bearer " and a value
      // shorter than the rule's minimum stay held over the pause (heldTail) instead.
      if (text.length - at >= (holding ? BEARER_MIN : 1) && runOf(text, at, bearerCls, Infinity) === text.length - at) found.push({ at, keepFrom: lineStart + bearer.index, kind: 'bearer', next: { mode: 'class', cls: bearerCls, left: Infinity, blanks: false } });
    }
    // "bearer" with no blank yet is not a secret start: it goes out in clear and the next write is read after it.
  }
  // A token whose characters run to the end.
  for (const t of TOKENS) {
    t.starter.lastIndex = 0;
    for (let m = t.starter.exec(text); m; m = t.starter.exec(text)) {
      const from = m.index + m[0].length;
      const run = runOf(text, from, t.cls, t.max);
      if (from + run === text.length && run < t.max) {
        found.push({ at: m.index, keepFrom: m.index, kind: t.kind, next: { mode: 'class', cls: t.cls, left: t.max - run, blanks: false } });
        break;
      }
    }
  }
  // The beginning of an exact secret value.
  for (const { value: lit, kind } of literals) {
    for (let k = Math.min(lit.length - 1, text.length); k >= MIN_LITERAL_PREFIX; k--) {
      if (text.endsWith(lit.slice(0, k))) {
        const at = text.length - k;
        const rest = literals.filter((l) => l.value.length > k && text.endsWith(l.value.slice(0, k))).map((l) => l.value.slice(k));
        found.push({ at, keepFrom: at, kind, next: { mode: 'literal', rest } });
        break;
      }
    }
  }
  if (found.length === 0) return null;
  return found.reduce((a, b) => (b.at < a.at ? b : a));
}

/**
 * Where a tail that stays held over a pause begins, or -1: the first 1 to MIN_LITERAL_PREFIX-1
 * characters of an exact secret value (too short to redact without hiding ordinary words, too
 * much to let out), or "bearer " with less than the shortest bearer credential after it yet.
 */
export function heldTail(text: string, literals: readonly { value: string }[]): number {
  const lineStart = Math.max(text.lastIndexOf('\n'), text.lastIndexOf('\r')) + 1;
  const bearer = /\bbearer[ \t]+[A-Za-z0-9._~+/=-]{0,15}$/i.exec(text.slice(lineStart));
  let at = bearer ? lineStart + bearer.index : -1;
  for (const { value: lit } of literals) {
    for (let k = Math.min(lit.length - 1, text.length, MIN_LITERAL_PREFIX - 1); k > 0; k--) {
      if (text.endsWith(lit.slice(0, k))) {
        if (at === -1 || text.length - k < at) at = text.length - k;
        break;
      }
    }
  }
  return at;
}

/**
 * Consumes the continuation of a released secret from the start of `text`. Returns how many
 * characters belong to it and the state after (null: the secret has ended, the rest is ordinary).
 */
export function continueSecret(c: Continuation, text: string): { used: number; next: Continuation | null } {
  switch (c.mode) {
    case 'class': {
      let i = 0;
      if (c.blanks) {
        while (i < text.length && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
        if (i === text.length) return { used: i, next: c };
      }
      const run = runOf(text, i, c.cls, c.left);
      const used = i + run;
      if (used < text.length || run === c.left) return { used, next: null };
      return { used, next: { ...c, left: c.left - run, blanks: false } };
    }
    case 'auth': {
      let { stage, word } = c;
      for (let i = 0; i < text.length; i++) {
        const ch = text.charCodeAt(i);
        const blank = ch === 32 || ch === 9;
        const space = blank || ch === 10 || ch === 11 || ch === 12 || ch === 13;
        if (stage === 'quoted') {
          if (ch === 10 || ch === 13 || ch === 34 || ch === 39) return { used: i, next: null };
          continue;
        }
        if (stage === 'lead' || stage === 'gap') {
          if (blank) continue;
          // The value opens with a quote (a JSON / YAML field): all of it up to the closing one.
          if (stage === 'lead' && (ch === 34 || ch === 39)) {
            stage = 'quoted';
            continue;
          }
          if (space) return { used: i, next: null };
          stage = stage === 'lead' ? 'word1' : 'word2';
          word = '';
        }
        if (stage === 'word1') {
          if (!space) {
            if (word.length <= 20) word += text[i]!;
            continue;
          }
          if (blank && SCHEME_LIKE.test(word)) {
            stage = 'gap';
            continue;
          }
          return { used: i, next: null };
        }
        if (space) return { used: i, next: null };
      }
      return { used: text.length, next: { mode: 'auth', stage, word } };
    }
    case 'pem-head': {
      const head = c.head + text;
      const m = PEM_HEAD.exec(head);
      if (m) {
        const used = m[0].length - c.head.length;
        const rest = continueSecret({ mode: 'pem-body', tail: '' }, text.slice(used));
        return { used: used + rest.used, next: rest.next };
      }
      const firstLine = head.split(/[\r\n]/, 1)[0]!;
      if (firstLine.length === head.length && firstLine.length <= 80 && PEM_HEAD_PREFIX.test(firstLine)) return { used: text.length, next: { mode: 'pem-head', head } };
      // Not a private key after all (a certificate, say): what was released redacted stays so; go on.
      return { used: 0, next: null };
    }
    case 'pem-body': {
      const joined = c.tail + text;
      const end = PEM_END.exec(joined);
      if (!end) return { used: text.length, next: { mode: 'pem-body', tail: joined.slice(-60) } };
      return { used: end.index + end[0].length - c.tail.length, next: null };
    }
    case 'literal': {
      let best = 0;
      const rest: string[] = [];
      for (const r of c.rest) {
        let i = 0;
        while (i < r.length && i < text.length && r.charCodeAt(i) === text.charCodeAt(i)) i++;
        if (i === r.length) return { used: i, next: null };
        if (i === text.length) rest.push(r.slice(i));
        best = Math.max(best, i);
      }
      return rest.length > 0 ? { used: text.length, next: { mode: 'literal', rest } } : { used: best, next: null };
    }
  }
}
