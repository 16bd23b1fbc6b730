/**
 * bench:scale — projector scale-out: 1, 2 and 3 projector processes (consumers/projector.ts)
 * in one consumer group, on whatever the environment points at (the cluster mode:
 * `eval "$(bash infra/cluster.sh env)"`, or the single stack). Repeated runs per process count:
 *  1. throughput: once the group of n is stable on a fresh topic, a backlog of pre-encoded
 *     LangGraph-shaped events is written at once; events/s from the first write until the
 *     watermarks reach the end (the writer is done within seconds: projecting is the work);
 *  2. visibility lag at a steady save rate on a fresh topic (save acknowledged → its
 *     partition's watermark covers it), p50/p99 per run;
 * and, for each run, CPU per process from /proc/<pid>/stat (projectors, FerretDB, PostgreSQL,
 * Kafka, Redis) and the machine's busy share, which say where it stops scaling and why.
 * Run: npm run bench:scale [-- --quick] [-- --runs 3]. Writes bench/results/scale-<timestamp>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { parseEnv, redisConnection } from '../src/cli/env.ts';
import { createKafkaClient } from '../src/kafka/client.ts';
import { createAppender, type AppendRecord } from '../src/kafka/appender.ts';
import { checkpointsTopic, ensureTopics } from '../src/kafka/topics.ts';
import { createRedisCache } from '../src/redis/cache.ts';
import { createRedisClient, deleteKeysMatching } from '../src/redis/client.ts';
import { childrenOf, cpuDelta, snapshot } from './suite/cpu.ts';
import { createWorkload } from './workload.ts';

const quick = process.argv.includes('--quick');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : quick ? 2 : 3;
const size = quick ? { threads: 400, steps: 10, rate: 200, seconds: 10 } : { threads: 1_000, steps: 16, rate: 300, seconds: 15 };
const countsArg = process.argv.indexOf('--counts');
const COUNTS = countsArg > 0 ? process.argv[countsArg + 1]!.split(',').map(Number) : [1, 2, 3];
const env = parseEnv();
const root = path.resolve(import.meta.dirname, '..');
const local = process.env.THREADLOG_LOCAL_DIR ?? path.join(root, '.local');
const prefix = `benchscale${Date.now().toString(36)}`;
const PARTITIONS = env.partitions;
const progress = (msg: string): void => void process.stderr.write(`\r${msg.padEnd(110)}`);

const kafka = createKafkaClient({ brokers: env.kafkaBrokers, clientId: 'bench-scale' });
const admin = kafka.admin();
const mongo = new MongoClient(env.mongoUrl);
const redis = createRedisClient(redisConnection(env));
const children = new Set<ChildProcess>();
/** per projector process: how often it (re)joined the group and its warnings, from its log */
const joins = new Map<ChildProcess, { joined: number; kafkajsErrors: number; paused: number }>();

/**
 * `space`: unique per run, names its MongoDB database and Redis sub-prefix, so no run writes
 * over documents an earlier one made (on FerretDB an update costs far more than an insert)
 */
function projector(topicPrefix: string, generation: string, space: string): ChildProcess {
  const c = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'consumers/projector.ts')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, THREADLOG_LOG_LEVEL: 'info', THREADLOG_TOPIC_PREFIX: topicPrefix, THREADLOG_MONGO_DB: `${prefix}_${space}`, THREADLOG_REDIS_PREFIX: `${prefix}:${space}:`, THREADLOG_GENERATION: generation, THREADLOG_OPS_PORT: '0', THREADLOG_PARTITIONS: String(PARTITIONS) },
  });
  children.add(c);
  c.once('exit', () => children.delete(c));
  // drained always (an unread pipe blocks the projector); counts the rebalances it went through
  const counts = { joined: 0, kafkajsErrors: 0, paused: 0 };
  joins.set(c, counts);
  let rest = '';
  c.stderr!.on('data', (b: Buffer) => {
    const lines = (rest + b.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      if (l.includes('"joined the group"')) counts.joined += 1;
      else if (l.includes('"batch paused')) counts.paused += 1;
      else if (l.includes('"level":50')) counts.kafkajsErrors += 1;
    }
  });
  return c;
}

async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : (c.once('exit', r), c.kill('SIGTERM'))))));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function pidFile(name: string): number[] {
  try {
    return [Number(readFileSync(path.join(local, 'run', `${name}.pid`), 'utf8').trim())];
  } catch {
    return [];
  }
}

/** the servers of this machine's stack (cluster mode or single), by pid file */
function serverPids(): Record<string, number[]> {
  const cluster = (names: string[]) => names.flatMap(pidFile);
  const kafkaPids = cluster(['cluster-kafka-1', 'cluster-kafka-2', 'cluster-kafka-3']);
  const redisPids = cluster(['21301', '21302', '21303', '21304', '21305', '21306'].map((p) => `cluster-redis-${p}`));
  let postgres: number[] = [];
  try {
    const master = Number(readFileSync(path.join(local, 'data/postgres/postmaster.pid'), 'utf8').split('\n')[0]);
    postgres = [master, ...childrenOf(master)];
  } catch {
    // not the postgresql backend
  }
  return {
    ferretdb: pidFile('ferretdb'),
    postgres,
    kafka: env.redisClusterNodes ? kafkaPids : pidFile('kafka'),
    redis: env.redisClusterNodes ? redisPids : pidFile('redis'),
    bench: [process.pid],
  };
}

/** busy and total jiffies of the whole machine */
function machine(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

interface Window {
  seconds: number;
  groupJoins: number[];
  pausedBatches: number;
  errorsLogged: number;
  /** cores used per group over the window (CPU seconds / wall seconds) */
  cores: Record<string, number>;
  /** per projector process */
  projectorCores: number[];
  machineBusy: number;
}

async function measure<T>(procs: ChildProcess[], body: () => Promise<T>): Promise<{ value: T; window: Window }> {
  const groups = { ...serverPids(), projectors: procs.map((p) => p.pid!) };
  const before = snapshot(groups);
  const m0 = machine();
  const joins0 = procs.map((p) => joins.get(p)?.joined ?? 0);
  const t0 = performance.now();
  const value = await body();
  const seconds = (performance.now() - t0) / 1000;
  const after = snapshot(groups);
  const m1 = machine();
  const delta = cpuDelta(before, after);
  const perProc = procs.map((p) => (after.projectors!.get(p.pid!)! - (before.projectors!.get(p.pid!) ?? 0)) / seconds);
  return {
    value,
    window: {
      // rebalances a process went through during the window (0: the group stayed as it was)
      groupJoins: procs.map((p, i) => (joins.get(p)?.joined ?? 0) - joins0[i]!),
      pausedBatches: procs.reduce((n, p) => n + (joins.get(p)?.paused ?? 0), 0),
      errorsLogged: procs.reduce((n, p) => n + (joins.get(p)?.kafkajsErrors ?? 0), 0),
      seconds,
      cores: Object.fromEntries(Object.entries(delta).map(([k, v]) => [k, round(v / seconds, 2)])),
      projectorCores: perProc.map((c) => round(c, 2)),
      machineBusy: round((m1.busy - m0.busy) / (m1.total - m0.total), 2),
    },
  };
}

const round = (x: number, d = 0): number => Math.round(x * 10 ** d) / 10 ** d;

async function watermarkSum(topic: string, space: string, ends: Map<number, bigint>): Promise<{ done: bigint; behind: bigint }> {
  const wm = await createRedisCache({ redis, prefix: `${prefix}:${space}:` }).getWatermarks(topic);
  let done = 0n;
  let behind = 0n;
  for (const [p, end] of ends) {
    const at = BigInt(wm.get(p) ?? '-1') + 1n;
    done += at;
    behind += end - at;
  }
  return { done, behind };
}

async function stableWith(groupId: string, n: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const g = (await admin.describeGroups([groupId])).groups[0];
    if (g?.state === 'Stable' && g.members.length === n) return;
    if (Date.now() > deadline) throw new Error(`group ${groupId} not stable with ${n} members after ${timeoutMs} ms (${g?.state}, ${g?.members.length})`);
    await sleep(100);
  }
}

async function ends(topic: string): Promise<Map<number, bigint>> {
  return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
}

/** events/s of n processes projecting a backlog written once the group is stable */
async function throughputRun(n: number, run: number, backlog: AppendRecord[][]): Promise<{ eventsPerSecond: number; window: Window }> {
  const runPrefix = `${prefix}t${n}r${run}`;
  const generation = 'tp';
  await ensureTopics({ admin, prefix: runPrefix, partitions: PARTITIONS });
  const topic = checkpointsTopic(runPrefix);
  const procs = Array.from({ length: n }, () => projector(runPrefix, generation, `t${n}r${run}`));
  await stableWith(`${runPrefix}.projector.${generation}`, n);
  const appender = createAppender({ kafka, topic, partitions: PARTITIONS });
  const { window } = await measure(procs, async () => {
    await Promise.all(backlog.map((records) => appender.append(records)));
    await appender.close();
    const target = await ends(topic);
    for (;;) {
      const s = await watermarkSum(topic, `t${n}r${run}`, target);
      progress(`throughput, ${n} projector(s), run ${run}: ${s.behind} records behind`);
      if (s.behind <= 0n) return;
      await sleep(200);
    }
  });
  await stopAll();
  await admin.deleteTopics({ topics: [topic, `${runPrefix}.dead-letter`] }).catch(() => undefined);
  await mongo.db(`${prefix}_t${n}r${run}`).dropDatabase().catch(() => undefined);
  return { eventsPerSecond: round(backlog.length / window.seconds), window };
}

/** visibility lag of saves at a steady rate with n processes on a fresh topic */
async function lagRun(n: number, run: number): Promise<{ p50: number; p99: number; saves: number; achievedRate: number; window: Window }> {
  const lagPrefix = `${prefix}l${n}r${run}`;
  const generation = 'live';
  await ensureTopics({ admin, prefix: lagPrefix, partitions: PARTITIONS });
  const topic = checkpointsTopic(lagPrefix);
  const procs = Array.from({ length: n }, () => projector(lagPrefix, generation, `l${n}r${run}`));
  await stableWith(`${lagPrefix}.projector.${generation}`, n);
  const cache = createRedisCache({ redis, prefix: `${prefix}:l${n}r${run}:` });
  const waiting = new Map<number, Array<{ offset: bigint; t0: number }>>();
  const lags: number[] = [];
  const sub = await cache.subscribeWatermarks(topic, (w) => {
    const list = waiting.get(w.partition) ?? [];
    const now = performance.now();
    while (list.length > 0 && list[0]!.offset <= BigInt(w.offset)) lags.push(now - list.shift()!.t0);
  });
  const appender = createAppender({ kafka, topic, partitions: PARTITIONS });
  const w = createWorkload({ threads: size.rate, steps: size.seconds, messageChars: 400, threadPrefix: `l${n}${run}` });
  let saves = 0;
  const { value: achievedRate, window } = await measure(procs, async () => {
    const start = performance.now();
    for (let s = 0; s < size.seconds; s++) {
      const events = (await w.stepEvents(s)).filter((e) => e.type === 'checkpoint');
      for (let tick = 0; tick < 20; tick++) {
        const at = start + s * 1000 + tick * 50;
        if (performance.now() < at) await sleep(at - performance.now());
        for (const e of events.slice((tick * events.length) / 20, ((tick + 1) * events.length) / 20)) {
          const t0 = performance.now();
          void w.codec.encode(e).then((recs) => appender.append(recs)).then((receipt) => {
            const list = waiting.get(receipt.partition) ?? [];
            list.push({ offset: BigInt(receipt.offset), t0 });
            list.sort((a, b) => (a.offset < b.offset ? -1 : 1));
            waiting.set(receipt.partition, list);
          });
          saves++;
        }
      }
      progress(`lag, ${n} projector(s), run ${run}: ${saves} saves, ${lags.length} visible`);
    }
    const rate = saves / ((performance.now() - start) / 1000);
    const deadline = Date.now() + 60_000;
    while (lags.length < saves && Date.now() < deadline) await sleep(100);
    return rate;
  });
  await appender.close();
  await sub.close();
  await stopAll();
  await admin.deleteTopics({ topics: [topic, `${lagPrefix}.dead-letter`] }).catch(() => undefined);
  await mongo.db(`${prefix}_l${n}r${run}`).dropDatabase().catch(() => undefined);
  lags.sort((a, b) => a - b);
  const q = (p: number): number => round(lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? NaN);
  return { p50: q(0.5), p99: q(0.99), saves: lags.length, achievedRate: round(achievedRate), window };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  await admin.connect();
  await mongo.connect();
  const brokers = (await admin.describeCluster()).brokers.length;
  // encoded once, written by every throughput run: the codec's work stays out of the window
  const w = createWorkload({ threads: size.threads, steps: size.steps, messageChars: 400, threadPrefix: 't' });
  const backlog: AppendRecord[][] = [];
  for (let step = 0; step < size.steps; step++) {
    for (const e of await w.stepEvents(step)) backlog.push(await w.codec.encode(e));
    progress(`encoding the backlog: ${backlog.length} events (step ${step + 1}/${size.steps})`);
  }
  const total = backlog.length;

  const throughput: Record<number, Array<Awaited<ReturnType<typeof throughputRun>>>> = {};
  const lag: Record<number, Array<Awaited<ReturnType<typeof lagRun>>>> = {};
  // interleaved (1, 2, 3, 1, 2, 3, ...) so the machine's other load spreads over all counts
  for (let run = 1; run <= RUNS; run++) {
    for (const n of COUNTS) (throughput[n] ??= []).push(await throughputRun(n, run, backlog));
    for (const n of COUNTS) (lag[n] ??= []).push(await lagRun(n, run));
  }
  const summary = Object.fromEntries(
    COUNTS.map((n) => [
      n,
      {
        eventsPerSecond: { median: median(throughput[n]!.map((r) => r.eventsPerSecond)), runs: throughput[n]!.map((r) => r.eventsPerSecond) },
        lagMs: { p50Median: median(lag[n]!.map((r) => r.p50)), p99Median: median(lag[n]!.map((r) => r.p99)), p99Max: Math.max(...lag[n]!.map((r) => r.p99)), achievedRate: median(lag[n]!.map((r) => r.achievedRate)) },
        coresWhileProjecting: medianCores(throughput[n]!.map((r) => r.window)),
        // CPU milliseconds per projected event, per group (what carries over to other machines)
        cpuMsPerEvent: medianCores(throughput[n]!.map((r) => ({ ...r.window, cores: Object.fromEntries(Object.entries(r.window.cores).map(([k, c]) => [k, (c * r.window.seconds * 1000) / total])) }))),
        projectorCores: throughput[n]!.map((r) => r.window.projectorCores),
      },
    ]),
  );
  const result = { quick, runs: RUNS, size, partitions: PARTITIONS, brokers, redis: env.redisClusterNodes ? `cluster of ${env.redisClusterNodes.length} nodes` : 'single', events: total, summary, throughput, lag, at: new Date().toISOString() };
  process.stderr.write('\n');
  console.table(
    Object.fromEntries(
      COUNTS.map((n) => [
        `${n} projector${n > 1 ? 's' : ''}`,
        {
          'events/s (median)': summary[n]!.eventsPerSecond.median,
          [`lag p50 ms @${size.rate}/s`]: summary[n]!.lagMs.p50Median,
          'lag p99 ms': summary[n]!.lagMs.p99Median,
          'cores: projectors': summary[n]!.coresWhileProjecting.projectors,
          'ferretdb': summary[n]!.coresWhileProjecting.ferretdb,
          'postgres': summary[n]!.coresWhileProjecting.postgres,
          'kafka': summary[n]!.coresWhileProjecting.kafka,
          'redis': summary[n]!.coresWhileProjecting.redis,
          'machine busy': summary[n]!.coresWhileProjecting.machineBusy,
          'CPU ms/event: projectors': summary[n]!.cpuMsPerEvent.projectors,
          'ferretdb+postgres': round((summary[n]!.cpuMsPerEvent.ferretdb ?? 0) + (summary[n]!.cpuMsPerEvent.postgres ?? 0), 2),
        },
      ]),
    ),
  );
  const dir = path.join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written ${file}`);
}

function medianCores(ws: Window[]): Record<string, number> {
  const keys = Object.keys(ws[0]?.cores ?? {});
  return { ...Object.fromEntries(keys.map((k) => [k, round(median(ws.map((w) => w.cores[k] ?? 0)), 2)])), machineBusy: round(median(ws.map((w) => w.machineBusy)), 2) };
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`\nbench:scale failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
    const topics = (await admin.listTopics().catch(() => [] as string[])).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
    const groups = (await admin.listGroups().catch(() => ({ groups: [] as Array<{ groupId: string }> }))).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
    for (const n of COUNTS) for (let run = 1; run <= RUNS; run++) for (const k of ['t', 'l']) await mongo.db(`${prefix}_${k}${n}r${run}`).dropDatabase().catch(() => undefined);
    await admin.disconnect();
    await mongo.close();
    await deleteKeysMatching(redis, `${prefix}:*`).catch(() => undefined);
    redis.disconnect();
  });
