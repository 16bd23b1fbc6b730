/**
 * `npm start` / `threadlog demo`: the main job on the local stack. Starts the stack and a
 * projector process, runs a fleet of simulated agents through a real StateGraph with
 * ThreadlogSaver, and ends with a summary and the timeline of one thread.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setPriority } from 'node:os';
import { Command } from '@langchain/langgraph';
import type { RunnableConfig } from '@langchain/core/runnables';
import type { ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple } from '@langchain/langgraph-checkpoint';
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { Registry } from 'prom-client';
import { buildSupportAgent, userTurn } from '../../examples/support-agent.ts';
import { createCheckpointStore } from '../index.ts';
import { ThreadlogSaver } from '../langgraph/saver.ts';
import type { CheckpointStore } from '../store/types.ts';
import { encryptionOptions, redisConnection, type ThreadlogEnv } from './env.ts';
import { runStackScript } from './stack.ts';

export interface DemoOptions {
  agents: number;
  turns: number;
  messageBytes: number;
  toolCalls: number;
  reviewEvery: number;
  /** simulated model latency per agent step (0: flat out) */
  thinkMs: number;
  /** niceness of the projector process (0: the agents' priority) */
  projectorNice: number;
  json: boolean;
}

/** Times every put and getTuple the graph runtime makes. */
class TimedSaver extends ThreadlogSaver {
  readonly putMs: number[] = [];
  readonly getMs: number[] = [];
  override async put(config: RunnableConfig, cp: Checkpoint, md: CheckpointMetadata, nv: ChannelVersions): Promise<RunnableConfig> {
    const t = performance.now();
    try {
      return await super.put(config, cp, md, nv);
    } finally {
      this.putMs.push(performance.now() - t);
    }
  }
  override async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const t = performance.now();
    try {
      return await super.getTuple(config);
    } finally {
      this.getMs.push(performance.now() - t);
    }
  }
}

const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

function startProjector(env: ThreadlogEnv): ChildProcess {
  const require = createRequire(import.meta.url);
  const tsx = path.join(path.dirname(require.resolve('tsx/package.json')), 'dist/cli.mjs');
  const entry = path.resolve(import.meta.dirname, '../../consumers/projector.ts');
  return spawn(process.execPath, [tsx, entry], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, THREADLOG_OPS_PORT: '0', THREADLOG_LOG_LEVEL: 'warn', THREADLOG_PARTITIONS: String(env.partitions) },
  });
}

async function stopProjector(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  await exited;
}

export async function demoCommand(env: ThreadlogEnv, opts: DemoOptions): Promise<number> {
  await runStackScript('up');
  const out = (s: string): boolean => process.stdout.write(s + '\n');
  out(`\nthreadlog demo: ${opts.agents} agents × ${opts.turns} turns, ~${opts.messageBytes} B messages, ${opts.thinkMs > 0 ? `~${opts.thinkMs} ms per model call` : 'no model latency (agents run flat out)'}, projector at nice ${opts.projectorNice}`);
  const projector = startProjector(env);
  // In production projectors run on other machines; here they share the agents' cores. A
  // lower priority lets the agents (and Kafka, which acknowledges their saves) go first; the
  // projector catches up when they pause, and the timeline below waits for it.
  if (opts.projectorNice > 0 && projector.pid !== undefined) setPriority(projector.pid, opts.projectorNice);
  const registry = new Registry();
  let store: CheckpointStore | undefined;
  try {
    store = await createCheckpointStore({
      kafka: { brokers: env.kafkaBrokers },
      mongo: { url: env.mongoUrl },
      redis: redisConnection(env),
      dbName: env.mongoDb,
      topicPrefix: env.topicPrefix,
      partitions: env.partitions,
      generation: env.generation,
      redisKeyPrefix: env.redisPrefix,
      encryption: encryptionOptions(env),
      registry,
      // the first reads wait for the projector process to join its group
      readTimeoutMs: 30_000,
    });
    const saver = new TimedSaver({ store });
    const run = randomBytes(3).toString('hex');
    const threads = Array.from({ length: opts.agents }, (_, i) => `demo-${run}-agent-${i + 1}`);
    const graph = buildSupportAgent(saver, { messageBytes: opts.messageBytes, toolCallsPerTurn: opts.toolCalls, reviewEvery: opts.reviewEvery, thinkMs: opts.thinkMs });

    const bar = new cliProgress.SingleBar(
      { format: ' agents {bar} {value}/{total} turns | {eta_formatted} left', hideCursor: true, noTTYOutput: !process.stdout.isTTY, notTTYSchedule: 5_000 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(opts.agents * opts.turns, 0);
    // how late the event loop runs what is ready: every await of a save or load waits at least this
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    const start = performance.now();
    await Promise.all(
      threads.map(async (thread_id) => {
        const config = { configurable: { thread_id } };
        for (let turn = 1; turn <= opts.turns; turn += 1) {
          await graph.invoke(userTurn(turn, opts.messageBytes), config);
          // a human approves whatever the review node asked about
          if ((await graph.getState(config)).next.length > 0) await graph.invoke(new Command({ resume: true }), config);
          bar.increment();
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    loopDelay.disable();
    bar.stop();

    const lag = totalLag(await store.health());
    // the projector (at a lower priority) gets the cores now: let it catch up, so the next run
    // does not start behind and the timeline below is projected
    const caughtUp = await waitForProjection(store, lag, CATCH_UP_MS, opts.json);
    const health = await store.health();
    const stats = store.stats();
    const hits = stats.hits.l1 + stats.hits.l2 + stats.hits.l3;
    const lookups = hits + stats.misses.l3;
    const summary = {
      checkpointsSaved: saver.putMs.length,
      seconds: Number(seconds.toFixed(2)),
      savesPerSecond: Math.round(saver.putMs.length / seconds),
      saveMs: { p50: quantile(saver.putMs, 0.5), p99: quantile(saver.putMs, 0.99) },
      loadMs: { p50: quantile(saver.getMs, 0.5), p99: quantile(saver.getMs, 0.99) },
      eventLoopDelayMs: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6 },
      projectionLagMessages: lag,
      projectionCaughtUpSeconds: caughtUp,
      cacheHitRate: lookups === 0 ? 0 : hits / lookups,
      cache: stats,
      health: health.status,
    };
    if (opts.json) {
      out(JSON.stringify(summary, null, 2));
    } else {
      const t = new Table({ head: ['', 'value'] });
      t.push(
        ['checkpoints saved', summary.checkpointsSaved],
        ['saves/s', summary.savesPerSecond],
        ['save latency p50 / p99', `${summary.saveMs.p50.toFixed(2)} / ${summary.saveMs.p99.toFixed(2)} ms`],
        ['load latency p50 / p99', `${summary.loadMs.p50.toFixed(2)} / ${summary.loadMs.p99.toFixed(2)} ms`],
        ['event-loop delay p50 / p99', `${summary.eventLoopDelayMs.p50.toFixed(2)} / ${summary.eventLoopDelayMs.p99.toFixed(2)} ms${summary.eventLoopDelayMs.p50 > 5 ? ' (the process is CPU-bound: every await waits about this long)' : ''}`],
        ['projection lag when the agents stopped', `${lag} events, ${caughtUp === undefined ? `not caught up within ${CATCH_UP_MS / 1000} s` : `caught up in ${caughtUp.toFixed(1)} s`}`],
        ['cache hit rate', `${(summary.cacheHitRate * 100).toFixed(1)}% (L1 ${stats.hits.l1}, L2 ${stats.hits.l2}, L3 ${stats.hits.l3})`],
        ['store health', `${health.status}${health.reasons.length ? ': ' + health.reasons.join('; ') : ''}`],
      );
      out(t.toString());
      await printTimeline(store, threads[0]!, out);
    }
    return health.status === 'unhealthy' ? 1 : 0;
  } finally {
    await store?.close();
    await stopProjector(projector);
  }
}

const CATCH_UP_MS = 120_000;

/** events not yet projected, over every partition */
const totalLag = (h: Awaited<ReturnType<CheckpointStore['health']>>): number => Object.values(h.lag).reduce((a, b) => a + b, 0);

/**
 * Seconds until the projector's lag is 0 (undefined: not within `timeoutMs`), with progress on
 * stderr; `lag` is the lag just read.
 */
async function waitForProjection(store: CheckpointStore, lag: number, timeoutMs: number, quiet: boolean): Promise<number | undefined> {
  const started = performance.now();
  let left = lag;
  const bar = left === 0 || quiet ? undefined : new cliProgress.SingleBar({ format: ' projecting {bar} {value}/{total} events | {eta_formatted} left', hideCursor: true, noTTYOutput: !process.stderr.isTTY, notTTYSchedule: 5_000, stream: process.stderr }, cliProgress.Presets.shades_classic);
  const total = left;
  bar?.start(total, 0);
  try {
    while (left > 0) {
      if (performance.now() - started > timeoutMs) return undefined;
      await new Promise((r) => setTimeout(r, 250));
      left = totalLag(await store.health());
      bar?.update(Math.max(0, total - left));
    }
    return (performance.now() - started) / 1000;
  } finally {
    bar?.stop();
  }
}

async function printTimeline(store: CheckpointStore, threadId: string, out: (s: string) => boolean): Promise<void> {
  const t = new Table({ head: ['step', 'source', 'ns', 'checkpoint', 'parent', 'next writes', 'log'] });
  for await (const cp of store.stream(threadId)) {
    const md = cp.metadata as { step?: number; source?: string };
    t.push([
      md.step ?? '',
      md.source ?? '',
      cp.checkpointNs === '' ? '(root)' : cp.checkpointNs.split(':')[0]!,
      cp.checkpointId.slice(0, 13) + '…',
      cp.parentCheckpointId ? cp.parentCheckpointId.slice(0, 13) + '…' : '',
      cp.pendingWrites.map((w) => w.channel).join(',').slice(0, 30),
      `p${cp.position.partition}@${cp.position.offset}`,
    ]);
  }
  out(`\ntimeline of ${threadId} (oldest first):`);
  out(t.toString());
}
