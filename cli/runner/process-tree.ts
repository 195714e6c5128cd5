import { spawn, type SpawnOptions } from 'node:child_process';

/**
 * The one place that knows how a child's whole process tree is stopped on this platform. The
 * runner's children (the command, Claude, allowlisted commands, git, tmate) start other
 * processes; stopping only the child would leave those running. Everything that spawns a child
 * it may have to stop spreads `groupSpawnOptions` into its spawn options and stops it with
 * `stopTree`.
 */
export interface ProcessTree {
  /** Spawn options that make the child the root of a tree `stop` can reach as a whole. */
  readonly spawnOptions: Pick<SpawnOptions, 'detached' | 'windowsHide'>;
  /**
   * Sends `sig` to the tree rooted at `pid`. False when there was no such tree to signal (it
   * is gone, or the child leads no group of its own): callers then fall back to the child alone.
   */
  stop(pid: number, sig: NodeJS.Signals): boolean;
}

/** POSIX: the child leads a process group of its own (`detached`), and a signal to `-pid` reaches every member. */
export const posixProcessTree: ProcessTree = {
  spawnOptions: { detached: true },
  stop(pid, sig) {
    try {
      process.kill(-pid, sig);
      return true;
    } catch {
      return false;
    }
  },
};

/**
 * Windows: no process groups or signals. `detached` would give a console child a console window
 * of its own, so children stay attached (and hidden); `taskkill /T` walks the tree from `pid`.
 * Every signal is forceful (`/F`), as Node's own `process.kill` is there: a console program
 * ignores the window-close message a gentle taskkill sends, so a gentle step would only wait.
 * Not exercised by this repository's tests (no Windows machine runs them); see README.
 */
export const windowsProcessTree: ProcessTree = {
  spawnOptions: { detached: false, windowsHide: true },
  stop(pid) {
    const child = spawn('taskkill', ['/T', '/F', '/PID', String(pid)], { stdio: 'ignore', windowsHide: true });
    child.on('error', () => {
      /* taskkill missing or failed: nothing more can be done from here */
    });
    return true;
  },
};

/** The implementation for the platform the runner is on. */
export const processTree: ProcessTree = process.platform === 'win32' ? windowsProcessTree : posixProcessTree;

/** The spawn options that put a child at the root of a tree `stopTree` can stop. */
export const groupSpawnOptions = processTree.spawnOptions;

/** Stops the tree rooted at `pid` with `sig`; false when there was nothing to signal. */
export function stopTree(pid: number | undefined, sig: NodeJS.Signals): boolean {
  return pid ? processTree.stop(pid, sig) : false;
}
