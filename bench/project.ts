/**
 * bench:project — how fast the projector turns the log into the projection, on the local stack.
 *  1. pre-load the log with LangGraph-shaped checkpoint events (bench/workload.ts: growing
 *     message lists as append deltas, as the SDK writes them);
 *  2. events/s projected by one, then by two projector processes (consumers/projector.ts),
 *     each into its own generation, timed until the Redis watermarks reach the end offsets;
 *  3. visibility lag (save → its partition's watermark covers it, which is published after
 *     the head is in Redis) at a steady save rate;
 *  4. stored bytes per checkpoint for 50-step threads vs MongoDBSaver on the same FerretDB.
 * Run: npm run bench:project [-- --quick]. Writes bench/results/project-<timestamp>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MongoClient, BSON } from 'mongodb';
import { Redis } from 'ioredis';
import { MongoDBSaver } from '@langchain/langgraph-checkpoint-mongodb';
import { parseEnv } from '../src/cli/env.ts';
import { createKafkaClient } from '../src/kafka/client.ts';
import { createAppender } from '../src/kafka/appender.ts';
import { checkpointsTopic, ensureTopics } from '../src/kafka/topics.ts';
import { createRedisCache } from '../src/redis/cache.ts';
import { createWorkload, checkpointIdFor } from './workload.ts';

const quick = process.argv.includes('--quick');
const size = quick ? { threads: 200, steps: 20, rate: 500, seconds: 10, storageThreads: 20 } : { threads: 2_000, steps: 100, rate: 2_000, seconds: 20, storageThreads: 100 };
const env = parseEnv();
const root = path.resolve(import.meta.dirname, '..');
const prefix = `benchproj${Date.now().toString(36)}`;
const PARTITIONS = env.partitions;
const topic = checkpointsTopic(prefix);
const progress = (msg: string): void => void process.stderr.write(`\r${msg.padEnd(100)}`);

const kafka = createKafkaClient({ brokers: env.kafkaBrokers, clientId: 'bench-project' });
const admin = kafka.admin();
const mongo = new MongoClient(env.mongoUrl);
const redis = new Redis(env.redisUrl);
const cache = createRedisCache({ redis, prefix: `${prefix}:` });
const children: ChildProcess[] = [];

function projectorProcess(generation: string): ChildProcess {
  const c = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'consumers/projector.ts')], {
    cwd: root,
    stdio: 'ignore',
    env: { ...process.env, THREADLOG_TOPIC_PREFIX: prefix, THREADLOG_MONGO_DB: prefix, THREADLOG_REDIS_PREFIX: `${prefix}:${generation}:`, THREADLOG_GENERATION: generation, THREADLOG_OPS_PORT: '0', THREADLOG_LOG_LEVEL: 'warn', THREADLOG_PARTITIONS: String(PARTITIONS) },
  });
  children.push(c);
  return c;
}
const stopAll = async (): Promise<void> => {
  await Promise.all(children.splice(0).map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : (c.once('exit', r), c.kill('SIGTERM'))))));
};

async function ends(): Promise<Map<number, bigint>> {
  return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
}

/** events/s for `n` processes projecting the whole log into a fresh generation */
async function throughput(n: number, total: number): Promise<number> {
  const generation = `p${n}`;
  const target = await ends();
  const wmCache = createRedisCache({ redis, prefix: `${prefix}:${generation}:` });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) projectorProcess(generation);
  for (;;) {
    const wm = await wmCache.getWatermarks(topic);
    let behind = 0n;
    for (const [p, end] of target) behind += end - 1n - BigInt(wm.get(p) ?? '-1');
    progress(`${n} projector(s): ${behind} records behind`);
    if (behind <= 0n) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const seconds = (performance.now() - t0) / 1000;
  await stopAll();
  return total / seconds;
}

async function visibility(): Promise<{ p50: number; p99: number; saves: number; achievedRate: number }> {
  const generation = 'live';
  projectorProcess(generation);
  const liveCache = createRedisCache({ redis, prefix: `${prefix}:${generation}:` });
  const target = await ends();
  // catch up with the pre-loaded log first
  for (;;) {
    const wm = await liveCache.getWatermarks(topic);
    if ([...target].every(([p, end]) => BigInt(wm.get(p) ?? '-1') >= end - 1n)) break;
    progress('live projector catching up');
    await new Promise((r) => setTimeout(r, 250));
  }
  const waiting = new Map<number, Array<{ offset: bigint; t0: number }>>();
  const lags: number[] = [];
  const sub = await liveCache.subscribeWatermarks(topic, (w) => {
    const list = waiting.get(w.partition) ?? [];
    const now = performance.now();
    while (list.length > 0 && list[0]!.offset <= BigInt(w.offset)) lags.push(now - list.shift()!.t0);
  });
  const appender = createAppender({ kafka, topic, partitions: PARTITIONS });
  const w = createWorkload({ threads: size.rate, steps: size.seconds, messageChars: 400, threadPrefix: 'live' });
  const start = performance.now();
  let saves = 0;
  for (let s = 0; s < size.seconds; s++) {
    const events = (await w.stepEvents(s)).filter((e) => e.type === 'checkpoint');
    const due = start + s * 1000;
    // spread one second's saves over the second in 20 ticks
    for (let tick = 0; tick < 20; tick++) {
      const at = due + tick * 50;
      if (performance.now() < at) await new Promise((r) => setTimeout(r, at - performance.now()));
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
    progress(`steady load: ${saves} saves, ${lags.length} visible`);
  }
  const achievedRate = saves / ((performance.now() - start) / 1000);
  const deadline = Date.now() + 30_000;
  while (lags.length < saves && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await appender.close();
  await sub.close();
  await stopAll();
  lags.sort((a, b) => a - b);
  const q = (p: number): number => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), saves, achievedRate };
}

async function storage(): Promise<{ ours: number; mongodbSaver: number; ratio: number }> {
  const db = mongo.db(prefix);
  // ours: every document of the threads, all kinds (heads and offsets included), BSON bytes
  let ours = 0;
  let checkpoints = 0;
  for (const kind of ['checkpoints', 'blobs', 'heads']) {
    for await (const d of db.collection(`p1_${kind}`).find({ threadId: { $in: Array.from({ length: size.storageThreads }, (_, i) => `t-${i}`) } })) {
      ours += BSON.calculateObjectSize(d);
      if (kind === 'checkpoints') checkpoints++;
    }
  }
  const saver = new MongoDBSaver({ client: mongo, dbName: `${prefix}_saver` });
  const messages = new Map<string, unknown[]>();
  for (let step = 0; step < 50; step++) {
    progress(`MongoDBSaver: step ${step}/50`);
    for (let t = 0; t < size.storageThreads; t++) {
      const list = messages.get(`s-${t}`) ?? [];
      list.push({ role: 'user', content: `question ${step}` }, { role: 'ai', content: 'x'.repeat(400) });
      messages.set(`s-${t}`, list);
      const id = checkpointIdFor(step);
      await saver.put(
        { configurable: { thread_id: `s-${t}`, checkpoint_ns: '', ...(step > 0 ? { checkpoint_id: checkpointIdFor(step - 1) } : {}) } },
        { v: 4, id, ts: new Date().toISOString(), channel_values: { messages: list, step }, channel_versions: { messages: step + 1, step: step + 1 }, versions_seen: {} },
        { source: 'loop', step, parents: {} },
      );
    }
  }
  let theirs = 0;
  for await (const d of mongo.db(`${prefix}_saver`).collection('checkpoints').find({})) theirs += BSON.calculateObjectSize(d);
  const perOurs = ours / Math.max(1, checkpoints);
  const perTheirs = theirs / (50 * size.storageThreads);
  return { ours: Math.round(perOurs), mongodbSaver: Math.round(perTheirs), ratio: perOurs / perTheirs };
}

async function main(): Promise<void> {
  await admin.connect();
  await mongo.connect();
  await ensureTopics({ admin, prefix, partitions: PARTITIONS });
  const appender = createAppender({ kafka, topic, partitions: PARTITIONS });
  const w = createWorkload({ threads: size.threads, steps: size.steps, messageChars: 400, threadPrefix: 't' });
  let total = 0;
  for (let step = 0; step < size.steps; step++) {
    const events = await w.stepEvents(step);
    const encoded = await Promise.all(events.map((e) => w.codec.encode(e)));
    await Promise.all(encoded.map((r) => appender.append(r)));
    total += events.length;
    progress(`pre-load: ${total} events (step ${step + 1}/${size.steps})`);
  }
  await appender.close();
  const one = await throughput(1, total);
  const two = await throughput(2, total);
  const vis = await visibility();
  const bytes = await storage();
  const result = { quick, size, partitions: PARTITIONS, events: total, eventsPerSecond: { one: Math.round(one), two: Math.round(two) }, visibilityMs: vis, bytesPerCheckpoint: bytes, at: new Date().toISOString() };
  process.stderr.write('\n');
  console.table({
    'events/s, 1 projector': Math.round(one),
    'events/s, 2 projectors': Math.round(two),
    [`visibility p50 ms @${Math.round(vis.achievedRate)}/s`]: Math.round(vis.p50),
    'visibility p99 ms': Math.round(vis.p99),
    'bytes/checkpoint threadlog': bytes.ours,
    'bytes/checkpoint MongoDBSaver': bytes.mongodbSaver,
    'ratio': Number(bytes.ratio.toFixed(3)),
  });
  const dir = path.join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `project-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written ${file}`);
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`\nbench:project failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
    await admin.deleteTopics({ topics: [topic, `${prefix}.dead-letter`] }).catch(() => undefined);
    await mongo.db(prefix).dropDatabase().catch(() => undefined);
    await mongo.db(`${prefix}_saver`).dropDatabase().catch(() => undefined);
    await admin.disconnect();
    await mongo.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    void cache;
  });
