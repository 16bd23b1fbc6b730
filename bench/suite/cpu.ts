/**
 * CPU seconds per process from /proc (utime + stime), so a cell can say where its time went:
 * the client, ThreadlogSaver's projector, FerretDB, Kafka, Redis, PostgreSQL. Servers are
 * shared with whatever else runs on the machine; their share is an upper bound for the cell.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const TICKS = 100; // USER_HZ on Linux

function statOf(pid: number): { ppid: number; cpu: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / TICKS };
  } catch {
    return undefined;
  }
}

export function cpuSeconds(pids: number[]): number {
  return pids.reduce((a, p) => a + (statOf(p)?.cpu ?? 0), 0);
}

export function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    if (statOf(Number(d))?.ppid === parent) out.push(Number(d));
  }
  return out;
}

/** The local stack's servers (infra/stack.sh pid files), when they run here. */
export function stackPids(root: string): Record<string, number[]> {
  const run = path.join(process.env.THREADLOG_LOCAL_DIR ?? path.join(root, '.local'), 'run');
  const out: Record<string, number[]> = {};
  for (const name of ['ferretdb', 'kafka', 'redis']) {
    try {
      const pid = Number(readFileSync(path.join(run, `${name}.pid`), 'utf8').trim());
      if (statOf(pid)) out[name] = [pid];
    } catch {
      // not running here
    }
  }
  return out;
}

export type CpuSnapshot = Record<string, Map<number, number>>;

/** CPU seconds per process of each named group now. */
export function snapshot(groups: Record<string, number[]>): CpuSnapshot {
  return Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, new Map(pids.map((p) => [p, cpuSeconds([p])]))]));
}

/** CPU used between two snapshots per group: processes that appeared count whole, ones that exited are lost. */
export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, pids] of Object.entries(after)) {
    let sum = 0;
    for (const [pid, cpu] of pids) sum += Math.max(0, cpu - (before[k]?.get(pid) ?? 0));
    out[k] = sum;
  }
  return out;
}

/** FerretDB and the PostgreSQL it runs on (postmaster and its backends, as they are now) */
export function projectionServerPids(root: string): Record<string, number[]> {
  const local = process.env.THREADLOG_LOCAL_DIR ?? path.join(root, '.local');
  const out: Record<string, number[]> = { ferretdb: stackPids(root).ferretdb ?? [] };
  try {
    const postmaster = Number(readFileSync(path.join(local, 'data/postgres/postmaster.pid'), 'utf8').split('\n')[0]);
    out.postgres = [postmaster, ...childrenOf(postmaster)];
  } catch {
    out.postgres = [];
  }
  return out;
}
