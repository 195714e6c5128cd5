import { PEM_END, PEM_HEAD_PREFIX, continueSecret, heldTail, openSecret, type Continuation } from './redaction-grammar.js';

/**
 * Secret redaction, shared by the runner (before bytes leave the machine) and the gateway
 * (again, before storage). Secrets become `[REDACTED:kind]`.
 *
 * Text is handled as latin1 so any byte sequence round-trips unchanged: output with no secret
 * passes through byte for byte.
 */

export interface Rule {
  kind: string;
  /** Must use the `g` flag. With a `keep` group, only what follows it is replaced. */
  re: RegExp;
  keep?: boolean;
}

/** Known token formats. Order matters where one format is a prefix of another (sk-ant before sk-). */
export const RULES: Rule[] = [
  { kind: 'private-key', re: /-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g },
  { kind: 'anthropic', re: /sk-ant-[A-Za-z0-9_-]{20,}/g },
  { kind: 'openai', re: /sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g },
  { kind: 'github', re: /(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})/g },
  { kind: 'aws', re: /(?:AKIA|ASIA)[A-Z0-9]{16}/g },
  { kind: 'slack', re: /xox[abposr]-[A-Za-z0-9-]{10,}/g },
  { kind: 'jwt', re: /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g },
  { kind: 'ccg-token', re: /ccg[rom]_[A-Za-z0-9_-]{43}/g }, // run, operator and machine tokens
  // A quoted value (`"Authorization": "Basic …"`, YAML `authorization: '…'`): all of it, to its closing quote.
  { kind: 'authorization', re: /(authorization["']?[ \t]*[:=][ \t]*["'](?:[a-z][a-z0-9-]{1,19}[ \t]+)?)[^\s"'][^\r\n"']*/gi, keep: true },
  // A header or `authorization=`: whatever the scheme word (`Bot`, `Negotiate`, `SSWS`…), the credential after it.
  { kind: 'authorization', re: /(authorization["']?[ \t]*[:=][ \t]*(?:[a-z][a-z0-9-]{1,19}[ \t]+)?)[^\s"'][^\s]*/gi, keep: true },
  { kind: 'bearer', re: /(\bbearer[ \t]+)[A-Za-z0-9._~+/=-]{16,}/gi, keep: true },
];

/**
 * Every match of every rule contains a match of one of these two: one pass of each over text with
 * no secret replaces ten passes of RULES. Only the header rules are case-insensitive, so only
 * their starter is: irregexp runs a case-sensitive alternation ~1.6× faster than the same one
 * with /i (`npm run bench`, redactor figures). Keep them in step with RULES:
 * test/protocol/redaction-starter.test.ts generates matches of every rule and checks.
 */
export const RULE_STARTER = /-----BEGIN|sk-|gh[pousr]_|github_pat_|AKIA|ASIA|xox[abposr]-|eyJ|ccg[rom]_/;
const HEADER_STARTER = /authorization|bearer[ \t]/i;

const codes = (chars: string) => new Set([...chars].map((c) => c.charCodeAt(0)));
const XOX_KIND = codes('abposr');
const GH_KIND = codes('pousr');
const CCG_KIND = codes('rom');
const [DASH, LOWER_B, LOWER_E, LOWER_G, LOWER_H, LOWER_K, LOWER_S, LOWER_Y] = [...'-beghksy'].map((c) => c.charCodeAt(0));

/**
 * Whether `text` holds a token format's starter: exactly `RULE_STARTER.test(text)`, found by
 * looking up the rare character each starter holds (`-`, `_`, `J`, `K`, or all of `ASIA`) and
 * reading around it. The regular expression's starters begin with common letters (s, g, e, c, A,
 * x), so irregexp tries nearly every position: 0.7–0.9 GB/s over log text, four fifths of the
 * gateway's redaction; `indexOf` of one character is a memchr (1.9 GB/s over a CI log full of
 * `---` and `_`, 20 GB/s over plain build output). `test/protocol/redaction-starter.test.ts`
 * checks the two agree.
 */
export function hasRuleStarter(text: string): boolean {
  // sk-, xox?-, -----BEGIN
  for (let i = text.indexOf('-'); i !== -1; i = text.indexOf('-', i + 1)) {
    const before = text.charCodeAt(i - 1);
    if (before === LOWER_K && text.charCodeAt(i - 2) === LOWER_S) return true;
    if (XOX_KIND.has(before) && text.startsWith('xox', i - 4)) return true;
    if (text.charCodeAt(i + 1) === DASH && text.startsWith('----BEGIN', i + 1)) return true;
  }
  // gh?_, ccg?_, github_pat_
  for (let i = text.indexOf('_'); i !== -1; i = text.indexOf('_', i + 1)) {
    const before = text.charCodeAt(i - 1);
    if (GH_KIND.has(before) && text.charCodeAt(i - 2) === LOWER_H && text.charCodeAt(i - 3) === LOWER_G) return true;
    if (CCG_KIND.has(before) && text.startsWith('ccg', i - 4)) return true;
    if (before === LOWER_B && text.startsWith('github_pat_', i - 6)) return true;
  }
  for (let i = text.indexOf('J'); i !== -1; i = text.indexOf('J', i + 1)) {
    if (text.charCodeAt(i - 1) === LOWER_Y && text.charCodeAt(i - 2) === LOWER_E) return true;
  }
  for (let i = text.indexOf('K'); i !== -1; i = text.indexOf('K', i + 1)) if (text.startsWith('AKIA', i - 1)) return true;
  return text.includes('ASIA');
}

/** The prefilter: false means no rule can match `text` (true means one may). */
export function mayMatchRule(text: string): boolean {
  return hasRuleStarter(text) || HEADER_STARTER.test(text);
}

/**
 * A random id no redaction rule can touch: `make` again until none may match. Ids go into
 * events, and one redacted on its way (`sk-` turns up in about 1 in 18,000 random base64url ids
 * of 36 characters) no longer parses: the event would be dropped.
 */
export function unredactedId(make: () => string): string {
  for (;;) {
    const id = make();
    if (!mayMatchRule(id)) return id;
  }
}

/**
 * Which starters a text holds: each is false only when no match of it is anywhere in the text,
 * and so in no part of it either. The streaming redactor looks once per write and lets the rest of
 * its work skip what cannot be there (a 64 KiB chunk was scanned five times over before).
 */
export interface Starters {
  /** A token format's starter (RULE_STARTER, `hasRuleStarter`), `-----BEGIN` among them. */
  rule: boolean;
  /** An Authorization header or a Bearer credential's starter (HEADER_STARTER). */
  header: boolean;
}

export function startersIn(text: string): Starters {
  return { rule: hasRuleStarter(text), header: HEADER_STARTER.test(text) };
}

/** Fragments that can begin a secret: a trailing word containing one is held back until it is complete. */
const STARTERS = ['-----BEGIN', 'sk-', 'ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_', 'AKIA', 'ASIA', 'xox', 'eyJ', 'ccgr_', 'ccgo_', 'ccgm_'];
/**
 * Case-insensitive starters: header names whose value is redacted whatever it looks like. A write
 * that ends inside the name ("…Au") must be held too, or the rest ("thorization: token x") would
 * arrive without the name that marks its value as a secret.
 */
const CI_STARTERS = ['authorization', 'bearer'];
/** Environment variable names whose values are secrets. */
const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|_KEY$|^KEY$|AUTH|COOKIE|SESSION)/i;
const MIN_SECRET_VALUE = 6;
/** A trailing word longer than this is released even if it looks like a secret's start. */
const MAX_HOLD = 8 * 1024;
/** An unterminated private key block is held up to this size, then redacted to its end. */
const MAX_PEM = 64 * 1024;
/** A private key header, whose block is redacted to its END (or, in a complete text, to the end). */
const PEM_OPEN = /-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/;
/** A line whose end may be (the start of) an Authorization value or a Bearer credential: held from there. */
const HOLD_LINE = /authorization["']?[ \t]*(?:[:=]|$)|bearer[ \t]/i;
const WHITESPACE = new Set([9, 10, 11, 12, 13, 32]);

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The values of secret-named variables (at least 6 characters), longest first. */
export function secretEnvValues(env: NodeJS.ProcessEnv): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!value || value.length < MIN_SECRET_VALUE || !SECRET_NAME.test(name)) continue;
    out.push({ name, value: Buffer.from(value, 'utf8').toString('latin1') });
  }
  return out.sort((a, b) => b.value.length - a.value.length);
}

export interface RedactorOptions {
  /** Exact strings to redact (the run token, secret env values), with the kind to report. */
  literals?: { kind: string; value: string }[];
}

export interface Found {
  start: number;
  end: number;
  kind: string;
}

/**
 * Finds and redacts secrets in a complete piece of text (latin1). Used on whole artifacts, by
 * the streaming redactor on the part of a stream that can no longer grow into a secret, and by
 * the gateway chunk by chunk.
 */
export class Redaction {
  private readonly literal: RegExp | null;
  private readonly kinds: Map<string, string>;

  constructor(opts: RedactorOptions = {}) {
    const lits = (opts.literals ?? []).filter((l) => l.value.length >= MIN_SECRET_VALUE);
    this.kinds = new Map(lits.map((l) => [l.value, l.kind]));
    this.literal = lits.length ? new RegExp([...this.kinds.keys()].sort((a, b) => b.length - a.length).map(escapeRe).join('|'), 'g') : null;
    this.literals = [...this.kinds.keys()];
    this.literalKinds = [...this.kinds.entries()].map(([value, kind]) => ({ value, kind }));
    this.literalsHaveStarter = this.literals.every((l) => RULE_STARTER.test(l));
  }

  /**
   * Every literal holds a token format's starter (the run token: `ccgr_…`): a text in which the
   * prefilter found no starter holds none of them either, and is not scanned for them (the
   * gateway's pass over every line did that scan for nothing).
   */
  private readonly literalsHaveStarter: boolean;

  /** The exact values being redacted. */
  readonly literals: readonly string[];
  /** The exact values with the kind each is reported as. */
  readonly literalKinds: readonly { value: string; kind: string }[];

  /** Secret ranges in `text`, in order, not overlapping. `starters`: what `startersIn` said of `text` or of a text containing it. */
  find(text: string, starters?: Starters): Found[] {
    const found: Found[] = [];
    if (this.literal && !(starters && !starters.rule && this.literalsHaveStarter)) {
      this.literal.lastIndex = 0;
      for (let m = this.literal.exec(text); m; m = this.literal.exec(text)) {
        found.push({ start: m.index, end: m.index + m[0].length, kind: this.kinds.get(m[0]) ?? 'secret' });
      }
    }
    const may = starters ? starters.rule || starters.header : mayMatchRule(text);
    for (const rule of may ? RULES : []) {
      rule.re.lastIndex = 0;
      for (let m = rule.re.exec(text); m; m = rule.re.exec(text)) {
        const keep = rule.keep ? (m[1] ?? '').length : 0;
        found.push({ start: m.index + keep, end: m.index + m[0].length, kind: rule.kind });
      }
    }
    if (found.length < 2) return found;
    found.sort((a, b) => a.start - b.start || b.end - a.end);
    const merged: Found[] = [];
    for (const f of found) {
      const last = merged.at(-1);
      if (last && f.start < last.end) {
        last.end = Math.max(last.end, f.end);
        continue;
      }
      merged.push({ ...f });
    }
    return merged;
  }

  apply(text: string): string {
    const found = this.find(text);
    if (found.length === 0) return text;
    let out = '';
    let at = 0;
    for (const f of found) {
      out += text.slice(at, f.start) + `[REDACTED:${f.kind}]`;
      at = f.end;
    }
    return out + text.slice(at);
  }

  /**
   * Redacts a complete text that nothing will follow (a string of an event): as `apply`, and a
   * private key block without its END is redacted from its BEGIN to the end of the text.
   */
  applyWhole(text: string): string {
    const out = this.apply(text);
    // Complete blocks are gone by now: a header left is one whose END never comes.
    const open = out.search(PEM_OPEN);
    return open === -1 ? out : out.slice(0, open) + '[REDACTED:private-key]';
  }

  /** Bytes in, bytes out. */
  applyBytes(data: Uint8Array): Buffer {
    const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
    const out = this.apply(text);
    return out === text ? Buffer.from(data) : Buffer.from(out, 'latin1');
  }
}

/** Where the last line of `text` begins: after its last LF or CR (a CR is looked for after the last LF only). */
function lastLineStart(text: string): number {
  let start = text.lastIndexOf('\n') + 1;
  for (let cr = text.indexOf('\r', start); cr !== -1; cr = text.indexOf('\r', cr + 1)) start = cr + 1;
  return start;
}

/** Context kept after a release, so that a secret whose first characters went out is still found. */
const CARRY = 32;
const EMPTY = Buffer.alloc(0);

export interface StreamRedactorOptions {
  /**
   * Keep the first 1 to 3 characters of an exact secret value held at a release (the runner).
   * The gateway, which never holds anything back, releases them.
   */
  holdShortLiterals?: boolean;
}

/**
 * Streaming redaction of one output stream. `push` returns what may be emitted now; a tail that
 * could be the start of a secret split across writes is held back until the next write shows
 * whether it is one. After a pause, `release` lets the held tail go: a tail that may begin a
 * secret goes out redacted and the redactor remembers it, so that the continuation is dropped
 * too until the secret's grammar ends it (a token's characters, a header's line, a private key's
 * END line), however long the pause. `flush` ends the stream.
 */
export class StreamRedactor {
  /** Text not yet known to be safe; its first `emitted` characters already went out (context). */
  private held = '';
  private emitted = 0;
  /** The continuation of a secret released redacted, while it lasts. */
  private cont: Continuation | null = null;
  private readonly holdShort: boolean;
  /**
   * True while what this redactor gave out since the last `push` began is that push's input,
   * unchanged and in order (nothing redacted, dropped or carried over from before it): the chunk
   * redactor then hands back the caller's buffer instead of two copies of it.
   */
  private untouched = false;

  constructor(
    private readonly r: Redaction,
    opts: StreamRedactorOptions = {},
  ) {
    this.holdShort = opts.holdShortLiterals ?? true;
  }

  /** Characters held and not yet emitted. */
  get pending(): number {
    return this.held.length - this.emitted;
  }

  /** Inside a secret released redacted: what follows is dropped until its grammar ends. */
  get continuing(): boolean {
    return this.cont !== null;
  }

  /** Since the last `push` began, everything given out was its input as it was (see `untouched`). */
  get unchanged(): boolean {
    return this.untouched;
  }

  push(data: Uint8Array): Buffer {
    const input = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
    this.untouched = this.cont === null && this.pending === 0;
    let text = input;
    if (this.cont) {
      const c = continueSecret(this.cont, text);
      this.cont = c.next;
      if (this.cont) return EMPTY;
      text = text.slice(c.used);
    }
    const joined = this.held.length > 0 ? this.held + text : text;
    const skip = this.emitted;
    const starters = startersIn(joined);
    const cut = this.holdFrom(joined, starters);
    this.held = '';
    this.emitted = 0;
    if (cut === -1) {
      this.untouched = false;
      // A private key block too long to hold: redact from its BEGIN and drop to its END.
      const begin = joined.lastIndexOf('-----BEGIN');
      this.cont = { mode: 'pem-body', tail: joined.slice(-60) };
      return Buffer.from(this.emit(joined, skip, Math.max(begin, skip), starters) + '[REDACTED:private-key]', 'latin1');
    }
    if (cut < joined.length) {
      this.held = joined.slice(cut);
      this.emitted = Math.max(0, skip - cut);
    }
    const out = this.emit(joined, skip, cut, starters);
    // Nothing redacted or held (the usual case): no copy of a Buffer the caller already owns.
    if (out === input && Buffer.isBuffer(data)) return data;
    // Nothing redacted, a tail held: the output is the start of the input.
    if (this.untouched && Buffer.isBuffer(data)) return data.subarray(0, out.length);
    return Buffer.from(out, 'latin1');
  }

  /**
   * The stream has paused: lets the held tail go. A tail that may begin a secret goes out as
   * `[REDACTED:kind]` and its continuation will be dropped; the first characters of a format's
   * prefix ("sk", "-----BEG") go out as they are and are kept as context for the next write.
   */
  release(): Buffer {
    return Buffer.from(this.releaseText(false), 'latin1');
  }

  /** Everything held, redacted as if the stream ended here; the stream's state is reset. */
  flush(): Buffer {
    const out = this.releaseText(true);
    this.held = '';
    this.emitted = 0;
    this.cont = null;
    return Buffer.from(out, 'latin1');
  }

  private releaseText(final: boolean): string {
    if (this.pending === 0) return '';
    const text = this.held;
    const skip = this.emitted;
    this.held = '';
    this.emitted = 0;
    const open = openSecret(text, this.r.literalKinds, this.holdShort && !final);
    if (open) {
      this.untouched = false;
      this.cont = open.next;
      // The header name before the value stays as it is (the rules would read "Bearer" as the value).
      const kept = text.slice(Math.max(open.keepFrom, skip), Math.max(open.at, skip));
      return this.emit(text, skip, Math.max(open.keepFrom, skip)) + kept + `[REDACTED:${open.kind}]`;
    }
    let end = text.length;
    if (this.holdShort && !final) {
      const tail = heldTail(text, this.r.literalKinds);
      if (tail !== -1) end = Math.max(tail, skip);
    }
    const out = this.emit(text, skip, end);
    const from = Math.max(0, end - CARRY);
    this.held = text.slice(from);
    this.emitted = end - from;
    return out;
  }

  /** The redacted form of text[0, end), without its first `skip` characters (already emitted). */
  private emit(text: string, skip: number, end: number, starters?: Starters): string {
    if (end <= skip) return '';
    const part = end === text.length ? text : text.slice(0, end);
    const found = this.r.find(part, starters);
    if (found.length === 0) return skip === 0 ? part : part.slice(skip);
    let out = '';
    let at = skip;
    for (const f of found) {
      if (f.end <= at) continue;
      this.untouched = false;
      out += part.slice(at, Math.max(f.start, at)) + `[REDACTED:${f.kind}]`;
      at = f.end;
    }
    return out + part.slice(at);
  }

  /**
   * Where the part that may still grow into a secret begins (text.length: nothing to hold;
   * -1: an unterminated private key block past MAX_PEM).
   */
  private holdFrom(text: string, starters: Starters): number {
    let cut = text.length;
    const begin = starters.rule ? text.lastIndexOf('-----BEGIN') : -1;
    if (begin !== -1 && !PEM_END.test(text.slice(begin))) {
      const head = text.slice(begin, begin + 60);
      const complete = PEM_OPEN.test(head);
      if (PEM_HEAD_PREFIX.test(head.split('\n')[0]!) || complete) {
        if (text.length - begin > MAX_PEM) return complete ? -1 : cut;
        cut = begin;
      }
    }
    // The last line, if it carries an Authorization header or a Bearer credential still being written.
    if (starters.header) {
      const lineStart = lastLineStart(text);
      const line = text.slice(lineStart);
      const auth = HOLD_LINE.exec(line);
      if (auth && line.length - auth.index < MAX_HOLD) cut = Math.min(cut, lineStart + auth.index);
    }
    // The trailing word, if it could be (the start of) a secret.
    let ws = text.length;
    const floor = Math.max(0, text.length - MAX_HOLD);
    while (ws > floor && !WHITESPACE.has(text.charCodeAt(ws - 1))) ws--;
    const word = text.slice(ws);
    const at = word.length > 0 ? this.firstSecretStart(word) : -1;
    // Held whole; a word too long to hold whole (minified JSON, a long URL, base64) from the first
    // place in its last MAX_HOLD characters where a secret could begin. (It was let go whole, and
    // a token split at its end left in two halves that neither pass recognises.)
    if (at !== -1) cut = Math.min(cut, word.length < MAX_HOLD ? ws : ws + at);
    if (cut < text.length) {
      // Never cut through a complete secret (e.g. a key block whose last word is held).
      const from = Math.max(0, cut - MAX_PEM);
      for (const f of this.r.find(text.slice(from), starters)) if (from + f.start < cut && from + f.end > cut) cut = from + f.start;
    }
    return cut;
  }

  /** Where in `word` a secret, or the start of one at its end, could begin first; -1: nowhere. */
  private firstSecretStart(word: string): number {
    let first = -1;
    const take = (at: number) => {
      if (at !== -1 && (first === -1 || at < first)) first = at;
    };
    const lower = word.toLowerCase();
    for (const s of CI_STARTERS) {
      take(lower.indexOf(s));
      for (let k = Math.min(s.length - 1, lower.length); k > 0; k--) if (lower.endsWith(s.slice(0, k))) take(lower.length - k);
    }
    for (const s of STARTERS) {
      take(word.indexOf(s));
      for (let k = Math.min(s.length - 1, word.length); k > 0; k--) if (word.endsWith(s.slice(0, k))) take(word.length - k);
    }
    for (const lit of this.r.literals) {
      take(word.indexOf(lit));
      for (let k = Math.min(lit.length - 1, word.length); k > 0; k--) if (word.endsWith(lit.slice(0, k))) take(word.length - k);
    }
    return first;
  }
}

/**
 * The gateway's second pass, chunk by chunk. Chunks are stored as they arrive (nothing is held
 * back, so nothing can be lost in a crash): each chunk is pushed through the same streaming
 * redactor and what it would hold is released at once, so a chunk that ends inside a possible
 * secret is stored redacted and the rest of that secret, in later chunks of the stream, too.
 */
export class ChunkRedactor {
  private readonly s: StreamRedactor;

  constructor(r: Redaction) {
    this.s = new StreamRedactor(r, { holdShortLiterals: false });
  }

  apply(data: Uint8Array): Buffer {
    const out = this.s.push(data);
    if (this.s.pending === 0) return out;
    const rest = this.s.release();
    // Nothing redacted: the chunk as it came (a 64 KiB chunk was copied twice to give it back).
    if (this.s.unchanged && Buffer.isBuffer(data) && out.length + rest.length === data.length) return data;
    return out.length === 0 ? rest : Buffer.concat([out, rest]);
  }
}
