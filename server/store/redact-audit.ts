import { Redaction } from '../../protocol/redaction.js';
import type { AuditEntry } from './types.js';

const KNOWN_FORMATS = new Redaction();

/**
 * An audit entry with every secret of a known format (API keys and tokens of Anthropic, OpenAI,
 * GitHub, AWS, Slack, JWTs, private keys, bearer values, ccg's own tokens) replaced by
 * `[REDACTED:kind]`, in every text field: the prompt an operator typed, a deny message, command
 * parameters, a name typed into the login form. Output is redacted before it is stored; the
 * audit log, shown at /audit and GET /api/v1/audit, must not be the place where a pasted token
 * survives. Field names are not judged (a `token` field holds a token's public id).
 */
export function redactAuditEntry(entry: AuditEntry): AuditEntry {
  const text = (s: string) => KNOWN_FORMATS.apply(s);
  const out: AuditEntry = { ...entry, actor: text(entry.actor), target: entry.target === null ? null : text(entry.target), from: entry.from === null ? null : text(entry.from) };
  if (entry.detail) {
    const detail: NonNullable<AuditEntry['detail']> = {};
    for (const [k, v] of Object.entries(entry.detail)) detail[k] = typeof v === 'string' ? text(v) : v;
    out.detail = detail;
  }
  return out;
}
