import { closeSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One gateway per data directory and per port. Two `ccg serve` on one data directory would
 * write one LMDB store with two sets of in-memory state (sequence numbers, live runs); two on
 * one port would split the traffic between them. Both are refused at start, naming the other.
 */

/** Another process owns the data directory or the port. */
export class InUseError extends Error {
  constructor(
    message: string,
    readonly what: 'data-dir' | 'port',
    readonly pid: number | null,
  ) {
    super(message);
    this.name = 'InUseError';
  }
}

const LOCK_FILE = 'serve.lock';

/** Linux: the process's start time (clock ticks since boot), to tell a live owner from a reused pid. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface LockContent {
  pid: number;
  started: string | null;
}

function readLock(path: string): LockContent | null {
  try {
    const [pid, started] = readFileSync(path, 'utf8').trim().split(/\s+/);
    const n = Number(pid);
    return Number.isInteger(n) && n > 0 ? { pid: n, started: started && started !== '-' ? started : null } : null;
  } catch {
    return null;
  }
}

/** The lock's owner still runs (same pid, and where /proc tells, the same process, not a reused pid). */
function held(lock: LockContent): boolean {
  if (!alive(lock.pid)) return false;
  const now = startTime(lock.pid);
  return lock.started === null || now === null || now === lock.started;
}

/**
 * Takes `<dataDir>/serve.lock` (this process's pid and start time), or throws InUseError naming
 * the process that holds it. A lock left by a process that has died is taken over. Returns the
 * release function (removes the file if it is still this process's).
 */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, LOCK_FILE);
  const mine = `${process.pid} ${startTime(process.pid) ?? '-'}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, mine);
      } finally {
        closeSync(fd);
      }
      return () => {
        if (readLock(path)?.pid === process.pid) rmSync(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const other = readLock(path);
    if (other && held(other)) {
      const self = other.pid === process.pid ? ' (this process: close the other gateway first)' : '';
      throw new InUseError(`data directory ${dataDir} is in use by another ccg serve, pid ${other.pid}${self}; stop it, or give this one its own --data`, 'data-dir', other.pid);
    }
    // Stale (its process is gone) or unreadable (torn write of a crashed start): take it over.
    rmSync(path, { force: true });
  }
  throw new InUseError(`data directory ${dataDir}: could not take ${LOCK_FILE}`, 'data-dir', null);
}

/**
 * Linux: the pid of a process of this user listening on TCP `port`, from /proc/net/tcp{,6} and
 * /proc/<pid>/fd; null when it cannot be told (another user's process, another OS).
 */
export function listenerPid(port: number): number | null {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; field 9 is the inode.
      if (f.length > 9 && f[3] === '0A' && parseInt(f[1]!.split(':')[1]!, 16) === port) inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) return null;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return Number(pid);
      } catch {
        // the fd closed meanwhile
      }
    }
  }
  return null;
}
