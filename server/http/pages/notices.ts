/**
 * Messages shown after a redirect (`?notice=key`). Only these fixed texts are ever shown, so a
 * crafted link cannot put words on the page.
 */
export const NOTICES: Record<string, string> = {
  'logged-out': 'You are signed out.',
  welcome: 'The admin account is ready and you are signed in. Next: turn on two-factor login below.',
  'password-changed': 'Password changed. Your other sessions were signed out and your API tokens (from ccg login or made below) were revoked.',
  'password-reset': 'Password set. Their sessions were signed out and their API tokens were revoked.',
  'totp-disabled': 'Two-factor login is off.',
  'token-revoked': 'The token is revoked.',
  'user-updated': 'Saved.',
  'user-deleted': 'The user is deleted; their sessions and tokens no longer work.',
  'run-cancelled': 'Cancel sent to the runner.',
  'machine-revoked': 'Machine revoked: its connection was closed and its token no longer works.',
  'run-revoked': 'Run token revoked: the runner was cut off and cannot reconnect.',
  'recovery-low': 'You signed in with a recovery code. Few are left: make new ones by turning two-factor login off and on again.',
  'session-ended': 'Your session ended. Sign in again.',
  'approval-sent': 'Answer sent. The timeline shows when Claude has it.',
  'approval-taken': 'Someone answered that approval first. The timeline shows who and how.',
  'approval-failed': 'That approval can no longer be answered.',
  'input-sent': 'Sent to the run.',
  'command-sent': 'Command sent to the runner. Its output appears under Commands.',
  'collect-sent': 'Asked the runner to collect its artifacts. They appear under Artifacts.',
  'assist-start': 'Asked the runner to start an assist session. Reload for its links.',
  'assist-stop': 'Asked the runner to stop the assist session.',
  'push-on': 'Notifications are on for this phone. Send yourself a test below.',
  'push-removed': 'That device gets no more notifications.',
  'push-test-sent': 'Test notification sent. It should arrive in a few seconds.',
  'push-test-none': 'No device of yours gets notifications yet: turn them on first.',
};

export function notice(query: string): string | null {
  const key = new URLSearchParams(query).get('notice');
  return key && Object.hasOwn(NOTICES, key) ? NOTICES[key]! : null;
}
