import vm from 'node:vm';

/**
 * Checks a parameter for an allowlisted command before it is sent, as the runner will: the whole
 * value must match the pattern the runner advertised, with no control character and no leading
 * `-` (cli/runner/allowlist.ts). The runner is the authority and checks again; this only saves
 * a round trip and lets the operator type the value again.
 *
 * The pattern comes from the runner, which the console does not trust: a pattern built to
 * backtrack for ever must not freeze the operator's screen. It runs in a VM context with a time
 * limit; when that is hit (or the pattern does not compile here), the check says "unknown" and
 * the runner decides.
 */
export type ParamVerdict = { ok: true } | { ok: false; reason: string } | { ok: 'unknown' };

const SANDBOX_MS = 50;

export function checkParam(value: string, pattern: string): ParamVerdict {
  if (value.length > 1024) return { ok: false, reason: 'at most 1024 characters' };
  if (/[\u0000-\u001f\u007f]/.test(value)) return { ok: false, reason: 'no control characters' };
  if (value.startsWith('-')) return { ok: false, reason: 'a value may not start with "-" (it would read as an option)' };
  try {
    const matched = vm.runInNewContext('new RegExp(pattern).test(value)', { pattern: `^(?:${pattern})$`, value }, { timeout: SANDBOX_MS }) as unknown;
    return matched === true ? { ok: true } : { ok: false, reason: `does not match ${pattern}` };
  } catch {
    return { ok: 'unknown' };
  }
}
