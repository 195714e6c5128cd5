/**
 * Run states. `created` until a runner first connects; `connected` until its child starts;
 * `running`; `waiting` while Claude waits for an approval or input; then one final state.
 * Whether the runner is currently connected is a separate flag (`runnerConnected`), so a
 * running run whose runner dropped off is shown as "runner away" without losing its state.
 * (Here rather than in run.ts, which builds zod schemas: `ccg runs list` needs only the names.)
 */
export const RUN_STATUSES = ['created', 'connected', 'running', 'waiting', 'exited', 'failed', 'cancelled', 'revoked'] as const;
