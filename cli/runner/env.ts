/** Variables a command run on the gateway's behalf may see: nothing secret, nothing that steers git or the shell. */
const KEEP_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TMPDIR', 'TZ'];

/**
 * The scrubbed environment of allowlisted commands and of the git commands that collect
 * artifacts: a handful of harmless variables of the runner's environment, plus settings that keep
 * git and pagers non-interactive. Secrets in the runner's environment (API keys, tokens) are not
 * passed on.
 */
export function commandEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { TERM: 'dumb', GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', PAGER: 'cat', NO_COLOR: '1' };
  for (const k of KEEP_ENV) if (env[k] !== undefined) out[k] = env[k];
  return out;
}
