import { Redaction, StreamRedactor, mayMatchRule } from './redaction.js';

/**
 * Redaction of the event stream (stream 3), at the runner and again at the gateway.
 *
 * Events are JSON lines. Redacting the line's text would let a rule run past the end of the
 * string it matched in: an unterminated `-----BEGIN … PRIVATE KEY-----` in a command was
 * redacted to the end of the line, the JSON no longer parsed and the event (an approval, say)
 * was lost. So each string value (and key) is redacted on its own, as a whole text, and the
 * event re-encoded: redaction can never reach past the end of a string, nor past a line.
 */

/** Any 8-bit text or a JS string with only ASCII characters: the latin1 and UTF-16 forms agree. */
const NON_ASCII = /[^\x00-\x7f]/;

/** A string of an event, redacted as a complete text (nothing follows it). */
export function redactString(r: Redaction, s: string): string {
  if (!NON_ASCII.test(s)) return r.applyWhole(s);
  // Redaction works on latin1 (the bytes of the UTF-8 form), as output does.
  const latin1 = Buffer.from(s, 'utf8').toString('latin1');
  const out = r.applyWhole(latin1);
  return out === latin1 ? s : Buffer.from(out, 'latin1').toString('utf8');
}

/** A parsed JSON value with every string (keys included) redacted; the same object when nothing changed. */
export function redactValue<T>(r: Redaction, v: T): T {
  if (typeof v === 'string') return redactString(r, v) as T;
  if (Array.isArray(v)) {
    let changed = false;
    const out = v.map((x: unknown) => {
      const y = redactValue(r, x);
      if (y !== x) changed = true;
      return y;
    });
    return (changed ? out : v) as T;
  }
  if (v !== null && typeof v === 'object') {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const key = redactString(r, k);
      const y = redactValue(r, x);
      if (key !== k || y !== x) changed = true;
      out[key] = y;
    }
    return (changed ? out : v) as T;
  }
  return v;
}

/** Could a string of this JSON line hold anything to redact? False only when none can. */
function mayHoldSecret(r: Redaction, line: string): boolean {
  // A JSON escape can spell any character (`sk\u002dant-…`): only unescaped text is read as it is.
  if (line.includes('\\')) return true;
  if (mayMatchRule(line)) return true;
  for (const lit of r.literals) if (line.includes(lit)) return true;
  return false;
}

/** One complete line of the event stream (latin1, without its newline), redacted. */
function redactLine(r: Redaction, latin1: string): string {
  if (!mayHoldSecret(r, latin1)) return latin1;
  const text = Buffer.from(latin1, 'latin1').toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON (a hostile runner, or a piece of an oversized event): redacted as a whole line.
    return r.applyWhole(latin1);
  }
  const out = redactValue(r, parsed);
  return out === parsed ? latin1 : Buffer.from(JSON.stringify(out), 'utf8').toString('latin1');
}

/**
 * The gateway's pass over the event stream of one run, chunk by chunk. Complete lines are
 * redacted string by string; a line that runs on into the next chunk (only a hostile runner or
 * an event larger than a chunk does that) goes through a streaming redactor so a secret split
 * across the two is still found, and that redactor is reset at the line's end.
 */
export class EventChunkRedactor {
  /** The redactor of a line begun in an earlier chunk and not yet ended. */
  private open: StreamRedactor | null = null;

  constructor(private readonly r: Redaction) {}

  apply(data: Uint8Array): Buffer {
    const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
    let out = '';
    let at = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', at)) {
      const line = text.slice(at, nl);
      if (this.open) {
        const s = this.open;
        this.open = null;
        out += s.push(Buffer.from(line, 'latin1')).toString('latin1') + s.flush().toString('latin1');
      } else {
        out += redactLine(this.r, line);
      }
      out += '\n';
      at = nl + 1;
    }
    if (at < text.length) {
      this.open ??= new StreamRedactor(this.r, { holdShortLiterals: false });
      const s = this.open;
      out += s.push(Buffer.from(text.slice(at), 'latin1')).toString('latin1');
      if (s.pending > 0) out += s.release().toString('latin1');
    }
    return out === text ? Buffer.from(data) : Buffer.from(out, 'latin1');
  }
}
