import vm from 'node:vm';

/**
 * Checks a parameter for an allowlisted command before it is sent, as the runner will: the whole
 * value must match the pattern the runner advertised, with no control character and no leading
 * `-` (cli/runner/allowlist.ts). The runner is the authority and checks again; this only saves
 * a round trip and lets the operator type the value again.
 *
 * The pattern comes from the runner, which the console does not trust: a pattern built to
 * backtrack for ever must not freeze the operator's screen. It runs in a VM context with a time
 * limit (100 ms of CPU); when that is spent (or the pattern does not compile here), the check
 * says "unknown" and the runner decides.
 */
export type ParamVerdict = { ok: true } | { ok: false; reason: string } | { ok: 'unknown' };

const SANDBOX_MS = 100;
const TRIES = 4;

export function checkParam(value: string, pattern: string): ParamVerdict {
  if (value.length > 1024) return { ok: false, reason: 'at most 1024 characters' };
  if (/[\u0000-\u001f\u007f]/.test(value)) return { ok: false, reason: 'no control characters' };
  if (value.startsWith('-')) return { ok: false, reason: 'a value may not start with "-" (it would read as an option)' };
  for (let i = 0; i < TRIES; i++) {
    const cpu = process.cpuUsage();
    try {
      const matched = vm.runInNewContext('new RegExp(pattern).test(value)', { pattern: `^(?:${pattern})$`, value }, { timeout: SANDBOX_MS }) as unknown;
      return matched === true ? { ok: true } : { ok: false, reason: `does not match ${pattern}` };
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') return { ok: 'unknown' }; // does not compile here
      // The limit is wall time. A pattern that backtracks burns the CPU all along; a busy machine
      // that did not give us the CPU is not the pattern's fault: try again.
      const used = process.cpuUsage(cpu);
      if ((used.user + used.system) / 1000 > SANDBOX_MS / 2) return { ok: 'unknown' };
    }
  }
  return { ok: 'unknown' };
}
