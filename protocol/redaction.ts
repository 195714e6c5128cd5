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
  { kind: 'private-key', re: /-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----[\s\S]*?-----END[A-Z0-9 ]{0,40}PRIVATE KEY-----/g },
  { kind: 'anthropic', re: /sk-ant-[A-Za-z0-9_-]{20,}/g },
  { kind: 'openai', re: /sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g },
  { kind: 'github', re: /(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})/g },
  { kind: 'aws', re: /(?:AKIA|ASIA)[A-Z0-9]{16}/g },
  { kind: 'slack', re: /xox[abposr]-[A-Za-z0-9-]{10,}/g },
  { kind: 'jwt', re: /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g },
  { kind: 'ccg-token', re: /ccg[ro]_[A-Za-z0-9_-]{43}/g },
  { kind: 'authorization', re: /(authorization:[ \t]*(?:(?:bearer|basic|token|digest)[ \t]+)?)[^\s]{4,}/gi, keep: true },
  { kind: 'bearer', re: /(\bbearer[ \t]+)[A-Za-z0-9._~+/=-]{16,}/gi, keep: true },
];

/**
 * Every match of every rule contains a match of this (case-insensitive, so a superset): one
 * pass of it over text with no secret replaces ten passes of RULES. Measured by `npm run
 * bench`: 170 → about 300 MB/s for either pass on log output with no secret. Keep it in step
 * with RULES: test/protocol/redaction-starter.test.ts generates matches of every rule and checks.
 */
export const RULE_STARTER = /-----BEGIN|sk-|gh[pousr]_|github_pat_|AKIA|ASIA|xox[abposr]-|eyJ|ccg[ro]_|authorization:|bearer[ \t]/i;

/** Fragments that can begin a secret: a trailing word containing one is held back until it is complete. */
const STARTERS = ['-----BEGIN', 'sk-', 'ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_', 'AKIA', 'ASIA', 'xox', 'eyJ', 'ccgr_', 'ccgo_'];
/**
 * Case-insensitive starters: header names whose value is redacted whatever it looks like. A write
 * that ends inside the name ("…Au") must be held too, or the rest ("thorization: token x") would
 * arrive without the name that marks its value as a secret.
 */
const CI_STARTERS = ['authorization:', 'bearer'];
/** Environment variable names whose values are secrets. */
const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|_KEY$|^KEY$|AUTH|COOKIE|SESSION)/i;
const MIN_SECRET_VALUE = 6;
/** A trailing word longer than this is released even if it looks like a secret's start. */
const MAX_HOLD = 8 * 1024;
/** An unterminated private key block is held up to this size, then redacted to its end. */
const MAX_PEM = 64 * 1024;
const WHITESPACE = new Set([9, 10, 11, 12, 13, 32]);
const PEM_END = /-----END[A-Z0-9 ]{0,40}PRIVATE KEY-----/;

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
  private readonly literalKinds: Map<string, string>;

  constructor(opts: RedactorOptions = {}) {
    const lits = (opts.literals ?? []).filter((l) => l.value.length >= MIN_SECRET_VALUE);
    this.literalKinds = new Map(lits.map((l) => [l.value, l.kind]));
    this.literal = lits.length ? new RegExp([...this.literalKinds.keys()].sort((a, b) => b.length - a.length).map(escapeRe).join('|'), 'g') : null;
  }

  get literals(): string[] {
    return [...this.literalKinds.keys()];
  }

  /** Secret ranges in `text`, in order, not overlapping. */
  find(text: string): Found[] {
    const found: Found[] = [];
    if (this.literal) {
      this.literal.lastIndex = 0;
      for (let m = this.literal.exec(text); m; m = this.literal.exec(text)) {
        found.push({ start: m.index, end: m.index + m[0].length, kind: this.literalKinds.get(m[0]) ?? 'secret' });
      }
    }
    for (const rule of RULE_STARTER.test(text) ? RULES : []) {
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

  /** Bytes in, bytes out. */
  applyBytes(data: Uint8Array): Buffer {
    const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
    const out = this.apply(text);
    return out === text ? Buffer.from(data) : Buffer.from(out, 'latin1');
  }
}

/**
 * The gateway's second pass, chunk by chunk. Chunks are stored as they arrive (nothing is held
 * back, so nothing can be lost in a crash); the last bytes of the previous chunk of the stream
 * are kept so that a secret straddling two chunks is still found, and its part in the new chunk
 * redacted.
 */
export class ChunkRedactor {
  private tail = '';

  constructor(private readonly r: Redaction) {}

  apply(data: Uint8Array): Buffer {
    const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
    const joined = this.tail + text;
    const offset = this.tail.length;
    this.tail = joined.slice(-512);
    const found = this.r.find(joined).filter((f) => f.end > offset);
    // Nothing to redact (the usual case): no copy of a Buffer the caller already owns.
    if (found.length === 0) return Buffer.isBuffer(data) ? data : Buffer.from(data);
    let out = '';
    let at = 0;
    for (const f of found) {
      const start = Math.max(f.start - offset, 0);
      if (start < at) continue;
      out += text.slice(at, start) + `[REDACTED:${f.kind}]`;
      at = f.end - offset;
    }
    return Buffer.from(out + text.slice(at), 'latin1');
  }
}

/**
 * Streaming redaction of one output stream. `push` returns what may be emitted now; a tail that
 * could be the start of a secret split across writes is held back until the next write shows
 * whether it is one (or `flush` at the end, or after the stream has been idle a moment).
 */
export class StreamRedactor {
  private held = '';
  private inPem = false;

  constructor(private readonly r: Redaction) {}

  get pending(): number {
    return this.held.length;
  }

  push(data: Uint8Array): Buffer {
    let text = this.held + Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
    this.held = '';
    if (this.inPem) {
      // Inside an over-long private key block: drop until its END line.
      const end = PEM_END.exec(text);
      if (!end) {
        this.held = text.slice(-60);
        return Buffer.alloc(0);
      }
      this.inPem = false;
      text = text.slice(end.index + end[0].length);
    }
    const cut = this.holdFrom(text);
    if (cut === -1) {
      // A private key block too long to hold: redact from its BEGIN and skip to its END.
      const begin = text.lastIndexOf('-----BEGIN');
      this.inPem = true;
      this.held = '';
      return Buffer.from(this.r.apply(text.slice(0, begin)) + '[REDACTED:private-key]', 'latin1');
    }
    this.held = text.slice(cut);
    return Buffer.from(this.r.apply(text.slice(0, cut)), 'latin1');
  }

  /** Everything held, redacted as if the stream ended here. */
  flush(): Buffer {
    const text = this.held;
    this.held = '';
    if (this.inPem) return Buffer.alloc(0);
    return Buffer.from(this.r.apply(text), 'latin1');
  }

  /**
   * Where the part that may still grow into a secret begins (text.length: nothing to hold;
   * -1: an unterminated private key block past MAX_PEM).
   */
  private holdFrom(text: string): number {
    let cut = text.length;
    const begin = text.lastIndexOf('-----BEGIN');
    if (begin !== -1 && !PEM_END.test(text.slice(begin))) {
      const head = text.slice(begin, begin + 60);
      if (/^-----BEGIN[A-Z0-9 ]{0,40}(P(R(I(V(A(T(E( (K(E(Y(-{1,5})?)?)?)?)?)?)?)?)?)?)?)?$/.test(head.split('\n')[0]!) || head.includes('PRIVATE KEY-----')) {
        if (text.length - begin > MAX_PEM) return head.includes('PRIVATE KEY-----') ? -1 : cut;
        cut = begin;
      }
    }
    // The last line, if it carries an Authorization header or a Bearer credential still being written.
    const lineStart = Math.max(text.lastIndexOf('\n'), text.lastIndexOf('\r')) + 1;
    const line = text.slice(lineStart);
    const auth = /authorization:|bearer[ \t]/i.exec(line);
    if (auth && line.length - auth.index < MAX_HOLD) cut = Math.min(cut, lineStart + auth.index);
    // The trailing word, if it could be (the start of) a secret.
    let ws = text.length;
    const floor = Math.max(0, text.length - MAX_HOLD);
    while (ws > floor && !WHITESPACE.has(text.charCodeAt(ws - 1))) ws--;
    const word = text.slice(ws);
    if (word.length > 0 && word.length < MAX_HOLD && this.couldBeSecret(word)) cut = Math.min(cut, ws);
    if (cut < text.length) {
      // Never cut through a complete secret (e.g. a key block whose last word is held).
      const from = Math.max(0, cut - MAX_PEM);
      for (const f of this.r.find(text.slice(from))) if (from + f.start < cut && from + f.end > cut) cut = from + f.start;
    }
    return cut;
  }

  private couldBeSecret(word: string): boolean {
    const lower = word.toLowerCase();
    for (const s of CI_STARTERS) {
      if (lower.includes(s)) return true;
      for (let k = Math.min(s.length - 1, lower.length); k > 0; k--) if (lower.endsWith(s.slice(0, k))) return true;
    }
    for (const s of STARTERS) {
      if (word.includes(s)) return true;
      for (let k = Math.min(s.length - 1, word.length); k > 0; k--) if (word.endsWith(s.slice(0, k))) return true;
    }
    for (const lit of this.r.literals) {
      if (word.includes(lit.slice(0, Math.min(lit.length, word.length)))) return true;
      for (let k = Math.min(lit.length - 1, word.length); k > 0; k--) if (word.endsWith(lit.slice(0, k))) return true;
    }
    return false;
  }
}
