/**
 * One benchmark cell in its own process (forked by main.ts with an IPC channel): opens the
 * saver, runs the workload, reports the result and its peak RSS, closes what it opened, exits.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { createRedisKeys } from '../../src/redis/keys.ts';
import { openSaver } from './savers.ts';
import { quantiles } from './stats.ts';
import type { CellSpec, CellTarget, ChildMessage, ParentMessage } from './types.ts';
import { bytesPerStep, graphFleet, saverLevel, threadIds, type WorkloadHooks } from './workloads.ts';

const send = (m: ChildMessage): void => void process.send?.(m);

/** VmHWM: the highest resident set size of this process so far */
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

// how many saves are followed to Redis at once, and in total (the poll costs client CPU)
const LAG_IN_FLIGHT = 8;
const LAG_SAMPLES = 400;
const LAG_POLL_MS = 1;

/** Save acknowledged → the thread's Redis head shows that checkpoint (or a later one). */
function lagSampler(redis: Redis, prefix: string, totalPuts: number) {
  const keys = createRedisKeys(prefix);
  const every = Math.max(1, Math.floor(totalPuts / LAG_SAMPLES));
  const samples: number[] = [];
  const pending = new Set<Promise<void>>();
  let puts = 0;
  let failures = 0;
  const follow = async (threadId: string, checkpointId: string): Promise<void> => {
    const t0 = performance.now();
    const deadline = t0 + 60_000;
    while (performance.now() < deadline) {
      const head = await redis.hget(keys.head(threadId, ''), 'c');
      if (head !== null && head >= checkpointId) {
        samples.push(performance.now() - t0);
        return;
      }
      await new Promise((r) => setTimeout(r, LAG_POLL_MS));
    }
  };
  return {
    afterPut(threadId: string, checkpointId: string): void {
      if (puts++ % every !== 0 || pending.size >= LAG_IN_FLIGHT) return;
      // a failed poll loses the sample, never the run
      const p = follow(threadId, checkpointId)
        .catch(() => void failures++)
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async done() {
      await Promise.all(pending);
      if (failures > 0) process.stderr.write(`lag sampler: ${failures} polls failed\n`);
      return quantiles(samples);
    },
  };
}

async function run(spec: CellSpec, target: CellTarget): Promise<void> {
  const bench = await openSaver(spec.saver, target);
  const redis = spec.saver === 'threadlog' && spec.workload === 'saver' ? new Redis(target.redisUrl) : undefined;
  try {
    const prefix = `${target.ns}-`;
    const sampler = redis ? lagSampler(redis, `${target.ns}:`, spec.threads * spec.steps) : undefined;
    let lastProgress = 0;
    const hooks: WorkloadHooks = {
      progress: (done, total) => {
        const now = performance.now();
        if (done === total || now - lastProgress > 200) {
          lastProgress = now;
          send({ type: 'progress', done, total });
        }
      },
      afterPut: sampler?.afterPut,
      pause: async (steps) => {
        await bench.settle(threadIds(spec, prefix));
        const resumed = new Promise<void>((resolve) => {
          const onMessage = (m: ParentMessage): void => {
            if (m.type !== 'resume') return;
            process.off('message', onMessage);
            resolve();
          };
          process.on('message', onMessage);
        });
        send({ type: 'pause', steps });
        await resumed;
      },
    };
    const workload = spec.workload === 'saver' ? saverLevel : spec.workload === 'graph' ? graphFleet : bytesPerStep;
    const cpu0 = process.cpuUsage();
    const timed = await workload(bench.saver, spec, prefix, hooks);
    const lag = await sampler?.done();
    const cpu = process.cpuUsage(cpu0);
    send({ type: 'result', result: { spec, ...timed, ...(lag ? { lag } : {}), peakRssBytes: peakRss(), cpuSeconds: { client: (cpu.user + cpu.system) / 1e6 } } });
  } finally {
    redis?.disconnect();
    await bench.close();
  }
}

process.once('message', (m: ParentMessage) => {
  if (m.type !== 'run') return;
  run(m.spec, m.target).then(
    () => process.disconnect(),
    (e: unknown) => {
      send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      process.exitCode = 1;
      process.disconnect();
    },
  );
});
