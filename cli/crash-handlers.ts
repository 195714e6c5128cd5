import type { Logger } from '../server/log.js';

/**
 * What the gateway process does with an error nothing caught, instead of dying silently:
 *
 * - an unhandled promise rejection is logged and the gateway keeps serving. The promise has
 *   already settled and unwound; the operation it stood for failed, and the gateway's state is
 *   still whole (every write is a whole LMDB transaction). Exiting would drop every runner and
 *   viewer of every other run for one failed operation.
 * - an uncaught exception is logged, then the process exits with code 1. A synchronous handler
 *   stopped halfway (a socket callback with state half updated, a cork held), and Node documents
 *   that resuming after that is unsafe. Nothing is lost by exiting: all output is committed
 *   before it is acknowledged, runners keep the rest in their spools and resume after a
 *   restart, so a supervisor (systemd, Docker's restart policy) restarting the gateway is the
 *   safe recovery.
 *
 * Returns a function that removes the handlers (the command is also run in-process by tests).
 */
export function installCrashHandlers(log: Logger, write: (line: string) => void): () => void {
  const onRejection = (reason: unknown) => {
    log.error('process.unhandled_rejection', { err: String(reason instanceof Error ? (reason.stack ?? reason.message) : reason).slice(0, 2000) });
  };
  const onException = (err: Error) => {
    log.error('process.uncaught_exception', { err: String(err?.stack ?? err).slice(0, 2000) });
    write('ccg: internal error (uncaught exception, logged above); exiting so a supervisor can restart the gateway\n');
    process.exit(1);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
