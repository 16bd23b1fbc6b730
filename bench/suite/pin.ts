/**
 * The pinned mode (`--pin`): in production the agents do not share cores with Kafka, MongoDB
 * and the projector, so a fair measure of the client gives it a core of its own. The client
 * process goes to core 0, every server process of the local stack (and the projector) to
 * core 1, with `taskset` on all their threads; the previous affinities are put back after.
 * Threads a process starts later inherit its affinity.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

export const CLIENT_CPU = '0';
export const SERVER_CPU = '1';

function mask(pid: number): string | undefined {
  try {
    // "pid 123's current affinity mask: 3"
    // a PostgreSQL backend may exit between listing and pinning: quietly skipped
    return /mask:\s*([0-9a-f]+)/i.exec(execFileSync('taskset', ['-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))?.[1];
  } catch {
    return undefined; // the process is gone
  }
}

function setList(pid: number, list: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' });
}

function setMask(pid: number, m: string): void {
  execFileSync('taskset', ['-a', '-p', m, String(pid)], { stdio: 'ignore' });
}

/** Throws a clear error when the pinned mode cannot run here. */
export function checkPinnable(): void {
  if (cpus().length < 2) throw new Error('--pin needs at least 2 cores (client on core 0, servers on core 1)');
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
  } catch {
    throw new Error('--pin needs taskset (Debian: apt-get install util-linux)');
  }
}

export interface Pinning {
  /** puts every pinned process back on the cores it had (idempotent; a gone process is skipped) */
  restore(): void;
}

/** Pins the client pids to core 0 and the server pids to core 1. */
export function pin(client: readonly number[], servers: readonly number[]): Pinning {
  const saved = new Map<number, string>();
  const apply = (pid: number, list: string): void => {
    if (saved.has(pid)) return;
    const m = mask(pid);
    if (m === undefined) return;
    saved.set(pid, m);
    try {
      setList(pid, list);
    } catch {
      // exited meanwhile
    }
  };
  for (const pid of client) apply(pid, CLIENT_CPU);
  for (const pid of servers) if (!client.includes(pid)) apply(pid, SERVER_CPU);
  return {
    restore() {
      for (const [pid, m] of saved) {
        try {
          setMask(pid, m);
        } catch {
          // exited meanwhile
        }
      }
      saved.clear();
    },
  };
}
