/**
 * ThreadlogSaver's projector as a separate process (consumers/projector.ts, as in production),
 * configured through its environment with the cell's names. Ready when /readyz answers 200.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

export interface ProjectorProcess {
  pid: number;
  /** VmHWM of the projector process, read before it is stopped */
  peakRss(): number;
  /** batches applied and their mean duration, documents written, from its /metrics */
  metrics(): Promise<{ batches: number; meanBatchMs: number; eventsPerBatch: number; documents: { inserted: number; replaced: number; deleted: number } } | undefined>;
  stop(): Promise<void>;
}

export interface ProjectorTarget {
  root: string;
  ns: string;
  brokers: string[];
  mongoUrl: string;
  redisUrl: string;
  partitions: number;
  /** more THREADLOG_* variables (generation, layout, ...), over the defaults here */
  env?: Record<string, string>;
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));

export async function startProjector(t: ProjectorTarget, timeoutMs = 60_000): Promise<ProjectorProcess> {
  const prof = process.env.BENCH_CPU_PROF === 'threadlog' ? ['--cpu-prof', '--cpu-prof-dir', path.join(t.root, '.local/bench-prof/projector')] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', path.join(t.root, 'consumers/projector.ts')], {
    cwd: t.root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      THREADLOG_KAFKA_BROKERS: t.brokers.join(','),
      THREADLOG_MONGO_URL: t.mongoUrl,
      THREADLOG_MONGO_DB: t.ns,
      THREADLOG_REDIS_URL: t.redisUrl,
      THREADLOG_TOPIC_PREFIX: t.ns,
      THREADLOG_PARTITIONS: String(t.partitions),
      THREADLOG_REDIS_PREFIX: `${t.ns}:`,
      THREADLOG_OPS_HOST: '127.0.0.1',
      THREADLOG_OPS_PORT: '0',
      THREADLOG_LOG_LEVEL: 'info',
      ...t.env,
    },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
  const opsUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`projector did not start within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    child.once('exit', (code) => reject(new Error(`projector exited (${code}) during start-up: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const j = JSON.parse(line) as { msg?: string; ops?: string };
        if (j.msg === 'projector running' && j.ops) {
          clearTimeout(timer);
          resolve(j.ops);
        }
      } catch {
        // not a log line
      }
    });
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(new URL('/readyz', opsUrl)).catch(() => undefined);
    if (res?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`projector not ready within ${timeoutMs} ms: ${res ? await res.text() : 'no answer'}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  let peak = Number.NaN;
  const readPeak = (): number => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Number(m[1]) * 1024;
    } catch {
      // gone already
    }
    return peak;
  };
  let stopped: Promise<void> | undefined;
  return {
    pid: child.pid!,
    peakRss: readPeak,
    async metrics() {
      const text = await fetch(new URL('/metrics', opsUrl)).then((r) => r.text(), () => undefined);
      if (!text) return undefined;
      const v = (name: string): number => {
        let sum = 0;
        for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))) sum += Number(m[1]);
        return sum;
      };
      const batches = v('threadlog_projector_batch_duration_seconds_count');
      const docs = (op: string): number => Number(new RegExp(`^threadlog_projector_documents_total\\{op="${op}"\\} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? 0);
      return {
        documents: { inserted: docs('inserted'), replaced: docs('replaced'), deleted: docs('deleted') },
        batches,
        meanBatchMs: batches ? (v('threadlog_projector_batch_duration_seconds_sum') / batches) * 1000 : Number.NaN,
        eventsPerBatch: batches ? v('threadlog_projector_batch_events_sum') / batches : Number.NaN,
      };
    },
    stop() {
      stopped ??= (async () => {
        readPeak();
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited(child);
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}
