/**
 * Output into a pipe whose reader has gone (`ccg runs logs ID | head`) ends the command quietly
 * with exit 0, as the reader asked for no more: no `write EPIPE` and no stack trace.
 *
 * Two kinds of command go on instead, only no longer writing there: a runner or a machine daemon
 * (`keepRunning`) must not leave its child, its runs and its gateway because nobody reads its
 * local echo; and a command whose exit code is its verdict (`runs wait`, `runs exec --wait`,
 * `waitThroughClosedPipe`) still waits and exits with it: `ccg runs exec ID test --wait | head`
 * under `set -o pipefail` must fail the job when the tests fail (it exited 0).
 */
export function quietOnClosedPipe(keepRunning: boolean): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      if (!keepRunning && !verdictPending) process.exit(0);
    });
  }
}

let verdictPending = false;

/** This command's exit code is its verdict: a closed pipe stops its output, not its wait. */
export function waitThroughClosedPipe(): void {
  verdictPending = true;
}
