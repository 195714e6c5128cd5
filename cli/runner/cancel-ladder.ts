import type { ChildDriver } from './driver.js';
import { stopTree } from './process-tree.js';

/**
 * How the runner stops its child when a run is cancelled: SIGINT first (or the driver's clean
 * interrupt: Claude over stream-json gets an interrupt request and the end of its input), then
 * SIGTERM, then SIGKILL, a grace period apart, to the whole process tree (`process-tree.ts`).
 */
export class CancelLadder {
  /** A cancel was asked for (the run then ends with 130, whatever the child's own code). */
  requested = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly driver: ChildDriver,
    private readonly graceMs: number,
    private readonly status: (line: string) => void,
  ) {}

  /** Starts the ladder for the child `pid` (once); each step first asks `running()`. `controlId`: the gateway's for the cancel. */
  start(pid: number, by: string, running: () => boolean, controlId: string | null = null): void {
    if (this.requested) return;
    this.requested = true;
    this.status(`cancel requested by ${by}`);
    const gentle = this.driver.interrupt(by, controlId);
    const signals: NodeJS.Signals[] = gentle ? ['SIGTERM', 'SIGKILL'] : ['SIGINT', 'SIGTERM', 'SIGKILL'];
    const next = () => {
      const sig = signals.shift();
      if (!sig || !running()) return;
      if (!stopTree(pid, sig)) this.driver.signalChild?.(sig);
      this.timer = setTimeout(next, this.graceMs);
    };
    if (gentle) this.timer = setTimeout(next, this.graceMs);
    else next();
  }

  /** The child has exited: no further step. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
