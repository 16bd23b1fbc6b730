/**
 * Runs one cell: makes its resources (and, for ThreadlogSaver, starts a projector process
 * with the cell's names), forks worker.ts, answers its storage pauses, collects the result,
 * then removes everything the cell made.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { cpuDelta, snapshot, stackPids, type CpuSnapshot } from './cpu.ts';
import { pin, type Pinning } from './pin.ts';
import { startProjector, type ProjectorProcess } from './projector-process.ts';
import { createCellResources, measureStorage, removeCellResources, type Shared } from './resources.ts';
import type { CellResult, CellSpec, CellTarget, ChildMessage, ParentMessage, StorageSample } from './types.ts';

export interface Endpoints {
  brokers: string[];
  mongoUrl: string;
  redisUrl: string;
  partitions: number;
}

/** Runs a cell; a failure or a timeout is a result with `error`, not an exception. */
export async function runCell(s: Shared, e: Endpoints, spec: CellSpec, ns: string, killAfterSeconds: number, onProgress: (done: number, total: number) => void): Promise<CellResult> {
  try {
    return await runCellOrThrow(s, e, spec, ns, killAfterSeconds, onProgress);
  } catch (err) {
    return { spec, seconds: 0, ops: 0, opsPerSec: Number.NaN, mismatches: 0, peakRssBytes: Number.NaN, error: err instanceof Error ? err.message : String(err) };
  }
}

async function runCellOrThrow(s: Shared, e: Endpoints, spec: CellSpec, ns: string, killAfterSeconds: number, onProgress: (done: number, total: number) => void): Promise<CellResult> {
  const res = await createCellResources(s, spec.saver, ns);
  let projector: ProjectorProcess | undefined;
  let pinning: Pinning | undefined;
  try {
    if (spec.saver === 'threadlog') projector = await startProjector({ root: s.root, ns, ...e });
    const servers = (): Record<string, number[]> => ({ ...stackPids(s.root), ...(s.ferretPid ? { ferretdb: [s.ferretPid] } : {}), ...(projector ? { projector: [projector.pid] } : {}), ...(spec.saver === 'postgres' && s.pg ? { postgres: s.pg.pids() } : {}) });
    const cpuBefore = snapshot(servers());
    let cpuAfter: CpuSnapshot | undefined;
    const target: CellTarget = { ns, ...e, ...(res.pgUrl ? { pgUrl: res.pgUrl } : {}), ...(res.sqlitePath ? { sqlitePath: res.sqlitePath } : {}) };
    const child = fork(path.join(import.meta.dirname, 'worker.ts'), [], {
      execArgv: ['--import', 'tsx', ...(process.env.BENCH_CPU_PROF && spec.saver === process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', path.join(s.root, '.local/bench-prof/client')] : [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // before the worker connects: every thread it starts later inherits core 0
    if (spec.pinned && child.pid !== undefined) pinning = pin([child.pid], Object.values(servers()).flat());
    const storage: StorageSample[] = [];
    const result = await new Promise<Omit<CellResult, 'storage' | 'projectorPeakRssBytes'>>((resolve, reject) => {
      let got: Omit<CellResult, 'storage' | 'projectorPeakRssBytes'> | undefined;
      let failure: string | undefined;
      child.on('message', (m: ChildMessage) => {
        if (m.type === 'progress') onProgress(m.done, m.total);
        else if (m.type === 'result') got = m.result;
        else if (m.type === 'error') failure = m.message;
        else if (m.type === 'pause') {
          measureStorage(s, spec.saver, res).then(
            (st) => {
              const steps = spec.threads * m.steps;
              storage.push({
                steps: m.steps,
                bytes: st.bytes,
                bytesPerStep: st.bytes === undefined ? undefined : st.bytes / steps,
                ...(st.kafkaLogBytes === undefined ? {} : { kafkaLogBytes: st.kafkaLogBytes, kafkaBytesPerStep: st.kafkaLogBytes / steps }),
              });
              child.send({ type: 'resume' } satisfies ParentMessage);
            },
            (err: unknown) => {
              failure = `measuring storage: ${String(err)}`;
              child.kill('SIGKILL');
            },
          );
        }
      });
      const killer = setTimeout(() => {
        failure = `killed: still running ${Math.round(Math.min(spec.capSeconds, 1e6) + killAfterSeconds)} s after start`;
        child.kill('SIGKILL');
      }, (Math.min(spec.capSeconds, 3_600) + killAfterSeconds) * 1000);
      child.on('exit', (code, signal) => {
        clearTimeout(killer);
        if (got) resolve(got);
        else reject(new Error(`${spec.saver} ${spec.workload} ${spec.threads}: ${failure ?? `worker exited (${code ?? signal}) without a result`}`));
      });
      // a worker that reported but keeps a handle open is ended after a grace period
      child.on('message', (m: ChildMessage) => {
        if (m.type !== 'result') return;
        // servers' CPU now, while the client's connections (PostgreSQL backends) still exist
        cpuAfter = snapshot(servers());
        setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
      });
      child.send({ type: 'run', spec, target } satisfies ParentMessage);
    });
    const projectorPeak = projector?.peakRss();
    const projectorMetrics = await projector?.metrics();
    const cpuSeconds = { ...result.cpuSeconds, ...cpuDelta(cpuBefore, cpuAfter ?? snapshot(servers())) };
    return {
      ...result,
      cpuSeconds,
      ...(storage.length > 0 ? { storage } : {}),
      ...(projectorPeak === undefined ? {} : { projectorPeakRssBytes: projectorPeak }),
      ...(projectorMetrics ? { projector: projectorMetrics } : {}),
    };
  } finally {
    pinning?.restore();
    await projector?.stop();
    // a failed clean-up is said, and does not throw away the cell's measurements
    await removeCellResources(s, spec.saver, res).catch((err: unknown) => {
      process.stderr.write(`\n${err instanceof Error ? err.message : String(err)}: ${err instanceof AggregateError ? err.errors.map(String).join('; ') : ''}\n`);
    });
  }
}
