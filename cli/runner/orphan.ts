import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopTree } from './process-tree.js';

/**
 * The child of a runner that was killed (kill -9, a crash, the machine's OOM killer) keeps
 * running in its own process group. When the runner is started again for the same run it runs
 * the command again, so the old child (another Claude editing the same workspace) must not go
 * on beside the new one. The runner notes its child in the run's spool directory and, on
 * start, stops a child it finds there that is still alive.
 *
 * A pid is trusted only together with the process start time from /proc (Linux), so a pid
 * reused by an unrelated process is never signalled; elsewhere nothing is stopped.
 */
const FILE = 'child.json';

/** The process start time (clock ticks since boot) of `pid`, or null (gone, or no /proc). */
function startTime(pid: number): string | null {
  try {
    // Fields after "pid (comm) ": state is the first; starttime is field 22 of the line.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

export function recordChild(dir: string, pid: number): void {
  writeFileSync(join(dir, FILE), JSON.stringify({ pid, start: startTime(pid) }), { mode: 0o600 });
}

export function forgetChild(dir: string): void {
  rmSync(join(dir, FILE), { force: true });
}

/** Stops (SIGTERM, then SIGKILL after `graceMs`) the process group of a previous runner's child that is still alive. */
export async function stopOrphanedChild(dir: string, graceMs: number, status: (line: string) => void): Promise<void> {
  let pid: number;
  let start: unknown;
  try {
    ({ pid, start } = JSON.parse(readFileSync(join(dir, FILE), 'utf8')) as { pid: number; start: unknown });
  } catch {
    return; // none recorded (or unreadable: nothing we can safely act on)
  }
  const same = () => Number.isInteger(pid) && pid > 1 && typeof start === 'string' && startTime(pid) === start;
  if (same()) {
    status(`the child of a previous runner of this run (pid ${pid}) is still running; stopping it before starting again`);
    for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
      // Its own process group (it was spawned as one); the pid alone when that is gone.
      if (!stopTree(pid, sig)) {
        try {
          process.kill(pid, sig);
        } catch {
          /* gone */
        }
      }
      const deadline = Date.now() + graceMs;
      while (same() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!same()) break;
    }
  }
  forgetChild(dir);
}
