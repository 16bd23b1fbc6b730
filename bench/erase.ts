/**
 * bench:erase — how long `eraseThread` takes on a thread of 1,000 checkpoints (each with its
 * pending writes), encryption on, on the local stack with a projector running in the store's
 * process. Per erasure: until reads answer not found (the data key destroyed), until the
 * thread-erased event is in the log, and until the projection has removed the thread (what
 * `eraseThread` waits for). Several threads, erased one after the other; medians.
 *
 * Run: npm run bench:erase [-- --quick]   (the local stack must run: npm run infra:up)
 * Output: a table, bench/results/erase-<timestamp>.json. Removes the topics, keys and database it made.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import Table from 'cli-table3';
import { uuid6, type Checkpoint } from '@langchain/langgraph-checkpoint';
import { parseEnv } from '../src/cli/env.ts';
import { removeBenchData } from './suite/cleanup.ts';
import { createCheckpointStore, createLocalKeyProvider, type CheckpointStore, type Logger } from '../src/index.ts';

const quick = process.argv.includes('--quick');
const THREADS = quick ? 3 : 5;
const CHECKPOINTS = quick ? 200 : 1_000;
const env = parseEnv();
const root = path.resolve(import.meta.dirname, '..');
const prefix = `bencherase${Date.now().toString(36)}`;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** times of the erasure's steps, from its log lines (store/erase.ts) */
function stepClock(): { logger: Logger; marks: Map<string, number> } {
  const marks = new Map<string, number>();
  const at = (_o: object, msg?: string): void => {
    if (msg?.startsWith('erasure:')) marks.set(msg.split(',')[0]!, performance.now());
  };
  const logger: Logger = { debug: at, info: at, warn: at, error: at, child: () => logger };
  return { logger, marks };
}

async function writeThread(store: CheckpointStore, threadId: string): Promise<void> {
  let parent: string | undefined;
  const messages: string[] = [];
  for (let n = 1; n <= CHECKPOINTS; n++) {
    messages.push(`step ${n}: ${'the agent summarized the tool output. '.repeat(4)}`);
    const cp = { v: 4, id: uuid6(-1), ts: new Date().toISOString(), channel_values: { messages: [...messages], step: n }, channel_versions: { messages: n, step: n }, versions_seen: {} } as Checkpoint;
    await store.save({ threadId, checkpoint: cp, metadata: { source: 'loop', step: n, parents: {} }, newVersions: { messages: n, step: n }, ...(parent === undefined ? {} : { parentCheckpointId: parent }) });
    await store.putWrites({ threadId, checkpointId: cp.id, taskId: `task-${n}`, writes: [['messages', `reply ${n}`]] });
    parent = cp.id;
  }
}

async function main(): Promise<void> {
  const clock = stepClock();
  const store = await createCheckpointStore({
    kafka: { brokers: env.kafkaBrokers },
    mongo: { url: env.mongoUrl },
    redis: { url: env.redisUrl },
    dbName: prefix,
    topicPrefix: prefix,
    redisKeyPrefix: `${prefix}:`,
    partitions: env.partitions,
    embeddedProjector: true,
    readTimeoutMs: 120_000,
    encryption: { keyProvider: createLocalKeyProvider(randomBytes(32)) },
    logger: clock.logger,
  });
  const runs: Array<{ threadId: string; checkpoints: number; keyDestroyedMs: number; loggedMs: number; totalMs: number; projected: boolean }> = [];
  try {
    const threads = Array.from({ length: THREADS }, (_, i) => `erase-${i}`);
    const w0 = performance.now();
    await Promise.all(threads.map((t) => writeThread(store, t)));
    process.stderr.write(`wrote ${THREADS} threads × ${CHECKPOINTS} checkpoints in ${((performance.now() - w0) / 1000).toFixed(1)} s\n`);
    // every thread projected (and in Redis) before the first erasure
    for (const t of threads) await store.load({ threadId: t }, { consistency: 'strong' });
    for (const threadId of threads) {
      clock.marks.clear();
      const t0 = performance.now();
      const r = await store.eraseThread(threadId, { timeoutMs: 120_000 });
      const total = performance.now() - t0;
      const since = (m: string): number => (clock.marks.get(m) ?? Number.NaN) - t0;
      runs.push({ threadId, checkpoints: CHECKPOINTS, keyDestroyedMs: since('erasure: data key destroyed'), loggedMs: since('erasure: logged'), totalMs: total, projected: r.projected });
      process.stderr.write(`${threadId}: key destroyed ${since('erasure: data key destroyed').toFixed(1)} ms, logged ${since('erasure: logged').toFixed(1)} ms, projection clear ${total.toFixed(1)} ms\n`);
      if ((await store.load({ threadId }, { consistency: 'strong' })) !== undefined) throw new Error(`${threadId} still reads after its erasure`);
    }
  } finally {
    await store.close();
    await removeBenchData(env, prefix, 'bench-erase');
  }
  const summary = {
    checkpoints: CHECKPOINTS,
    erasures: runs.length,
    keyDestroyedMsMedian: median(runs.map((r) => r.keyDestroyedMs)),
    loggedMsMedian: median(runs.map((r) => r.loggedMs)),
    totalMsMedian: median(runs.map((r) => r.totalMs)),
    totalMsMax: Math.max(...runs.map((r) => r.totalMs)),
  };
  const table = new Table({ head: ['checkpoints', 'erasures', 'reads not found after (median)', 'logged after (median)', 'projection clear after (median; max)'] });
  table.push([CHECKPOINTS, runs.length, `${summary.keyDestroyedMsMedian.toFixed(1)} ms`, `${summary.loggedMsMedian.toFixed(1)} ms`, `${summary.totalMsMedian.toFixed(1)} ms; ${summary.totalMsMax.toFixed(1)} ms`]);
  console.log(table.toString());
  const dir = path.join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `erase-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ quick, machine: { cpus: cpus().length, model: cpus()[0]?.model }, summary, runs, at: new Date().toISOString() }, null, 1));
  console.log(`written ${path.relative(root, file)}`);
}

await main();
