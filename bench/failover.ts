/**
 * bench:failover — how long reads stall after a projector is killed (kill -9), by consumer
 * group session timeout. Two projector processes share the partitions; a writer appends at a
 * steady rate; one projector is killed. Its partitions are projected again only once the
 * group coordinator gives up on it (the session timeout) and the survivor has rejoined and
 * caught up. Measured per partition of the killed member: from the kill to the moment its
 * watermark first covers a save acknowledged after the kill ("stall": until then no new save
 * there becomes visible), and the longest visibility lag of a save acknowledged after the kill. Baseline in the same run: a graceful stop (SIGTERM: the member
 * leaves the group at once).
 * Run: npm run bench:failover [-- --quick]. Writes bench/results/failover-<timestamp>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import Table from 'cli-table3';
import { parseEnv } from '../src/cli/env.ts';
import { createKafkaClient } from '../src/kafka/client.ts';
import { createAppender } from '../src/kafka/appender.ts';
import { checkpointsTopic, ensureTopics } from '../src/kafka/topics.ts';
import { createRedisCache } from '../src/redis/cache.ts';
import { createWorkload } from './workload.ts';
import { median } from './suite/stats.ts';

const quick = process.argv.includes('--quick');
const sessions = quick ? [6_000, 10_000] : [6_000, 10_000, 30_000];
const reps = quick ? 1 : 3;
const RATE = 100; // saves/s
const PARTITIONS = 6;
const env = parseEnv();
const root = path.resolve(import.meta.dirname, '..');
const progress = (msg: string): void => void process.stderr.write(`\r${msg.padEnd(110)}`);

const kafka = createKafkaClient({ brokers: env.kafkaBrokers, clientId: 'bench-failover' });
const admin = kafka.admin();
const mongo = new MongoClient(env.mongoUrl);
const redis = new Redis(env.redisUrl);
const children = new Set<ChildProcess>();

interface Member {
  child: ChildProcess;
  /** partitions it was assigned last (from its "joined the group" log line) */
  partitions: number[];
}

function projector(prefix: string, sessionMs: number): Promise<Member> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'consumers/projector.ts')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'ignore'],
    env: {
      ...process.env,
      THREADLOG_TOPIC_PREFIX: prefix,
      THREADLOG_MONGO_DB: prefix,
      THREADLOG_REDIS_PREFIX: `${prefix}:`,
      THREADLOG_OPS_PORT: '0',
      THREADLOG_LOG_LEVEL: 'info',
      THREADLOG_PARTITIONS: String(PARTITIONS),
      THREADLOG_PROJECTOR_SESSION_TIMEOUT_MS: String(sessionMs),
      THREADLOG_PROJECTOR_HEARTBEAT_MS: String(Math.min(1_000, Math.floor(sessionMs / 3))),
    },
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const member: Member = { child, partitions: [] };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('projector did not join within 60 s')), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const j = JSON.parse(line) as { msg?: string; partitions?: number[] };
        if (j.msg === 'joined the group') {
          member.partitions = j.partitions ?? [];
          clearTimeout(timer);
          resolve(member);
        }
      } catch {
        // not a log line
      }
    });
  });
}

const waitExit = (c: ChildProcess): Promise<void> => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r())));

interface Outcome {
  mode: 'kill -9' | 'SIGTERM';
  sessionMs: number;
  /** per partition of the stopped member: ms from the stop until it was caught up again */
  stallMs: number[];
  /** worst visibility lag (append acknowledged → watermark covers it) of saves on those partitions */
  worstLagMs: number;
}

async function once(mode: Outcome['mode'], sessionMs: number): Promise<Outcome> {
  const prefix = `benchfo${Date.now().toString(36)}`;
  const topic = checkpointsTopic(prefix);
  await ensureTopics({ admin, prefix, partitions: PARTITIONS });
  const cache = createRedisCache({ redis, prefix: `${prefix}:` });
  const appender = createAppender({ kafka, topic, partitions: PARTITIONS });
  const workload = createWorkload({ threads: 60, steps: 1_000_000, messageChars: 200, threadPrefix: prefix });
  const a = await projector(prefix, sessionMs);
  const b = await projector(prefix, sessionMs);
  // the first member's partitions after the second joined (it logs the rebalance too)
  await new Promise((r) => setTimeout(r, 3_000));
  const acked: Array<{ partition: number; offset: bigint; at: number }> = [];
  let writing = true;
  const writer = (async () => {
    let step = 0;
    while (writing) {
      const t0 = performance.now();
      const events = await workload.stepEvents(step++);
      await Promise.all(
        events.map(async (e) => {
          const r = await appender.append(await workload.codec.encode(e));
          acked.push({ partition: r.partition, offset: BigInt(r.offset), at: performance.now() });
        }),
      );
      const wait = (events.length / RATE) * 1000 - (performance.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  await new Promise((r) => setTimeout(r, 3_000));
  const victim = a.partitions.length > 0 ? a : b;
  const theirs = [...victim.partitions];
  const stoppedAt = performance.now();
  victim.child.kill(mode === 'kill -9' ? 'SIGKILL' : 'SIGTERM');
  await waitExit(victim.child);
  const stallMs = new Map<number, number>();
  const seen = new Map<number, number>(); // first time each acked offset was covered, by index
  for (;;) {
    const wm = await cache.getWatermarks(topic);
    const now = performance.now();
    for (const p of theirs) {
      const w = BigInt(wm.get(p) ?? '-1');
      const firstAfter = acked.find((x) => x.partition === p && x.at > stoppedAt);
      if (!stallMs.has(p) && firstAfter !== undefined && w >= firstAfter.offset) stallMs.set(p, now - stoppedAt);
    }
    acked.forEach((x, i) => {
      if (!seen.has(i) && BigInt(wm.get(x.partition) ?? '-1') >= x.offset) seen.set(i, now);
    });
    progress(`${mode} session ${sessionMs} ms: ${stallMs.size}/${theirs.length} partitions caught up, ${((now - stoppedAt) / 1000).toFixed(1)} s`);
    if (stallMs.size === theirs.length || now - stoppedAt > sessionMs * 3 + 60_000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  writing = false;
  await writer;
  let worstLagMs = 0;
  acked.forEach((x, i) => {
    if (theirs.includes(x.partition) && x.at > stoppedAt && seen.has(i)) worstLagMs = Math.max(worstLagMs, seen.get(i)! - x.at);
  });
  for (const c of [...children]) {
    c.kill('SIGTERM');
    await waitExit(c);
  }
  await appender.close();
  await admin.deleteTopics({ topics: [topic, `${prefix}.dead-letter`] }).catch(() => undefined);
  await mongo.db(prefix).dropDatabase().catch(() => undefined);
  return { mode, sessionMs, stallMs: theirs.map((p) => stallMs.get(p) ?? Number.NaN), worstLagMs };
}

async function main(): Promise<void> {
  await admin.connect();
  await mongo.connect();
  const outcomes: Outcome[] = [];
  try {
    for (const sessionMs of sessions) {
      for (let r = 0; r < reps; r++) {
        outcomes.push(await once('SIGTERM', sessionMs));
        outcomes.push(await once('kill -9', sessionMs));
      }
    }
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await admin.disconnect();
    await mongo.close();
    redis.disconnect();
  }
  process.stderr.write('\n');
  const table = new Table({ head: ['session timeout', 'stop', 'runs', 'stall p50 (s)', 'stall max (s)', 'worst save→visible (s)', 'stall / session'] });
  const rows = [];
  for (const sessionMs of sessions) {
    for (const mode of ['SIGTERM', 'kill -9'] as const) {
      const os = outcomes.filter((o) => o.sessionMs === sessionMs && o.mode === mode);
      const stalls = os.flatMap((o) => o.stallMs).filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
      const row = {
        sessionMs,
        mode,
        runs: os.length,
        stallP50Ms: median(stalls),
        stallMaxMs: stalls.at(-1) ?? Number.NaN,
        worstLagMs: Math.max(...os.map((o) => o.worstLagMs)),
      };
      rows.push(row);
      table.push([`${sessionMs / 1000} s`, mode, row.runs, (row.stallP50Ms / 1000).toFixed(1), (row.stallMaxMs / 1000).toFixed(1), (row.worstLagMs / 1000).toFixed(1), (row.stallP50Ms / sessionMs).toFixed(2)]);
    }
  }
  process.stdout.write(`${table.toString()}\n`);
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  const file = path.join(root, 'bench/results', `failover-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), quick, partitions: PARTITIONS, rate: RATE, rows, outcomes }, null, 2));
  process.stdout.write(`results: ${path.relative(root, file)}\n`);
}

await main();
