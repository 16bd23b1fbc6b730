/**
 * Read path: hot reads of a thread's latest checkpoint served by L1 (memory), L2 (Redis) and
 * L3 (MongoDB), and `list` of a 200-checkpoint thread, each beside
 * @langchain/langgraph-checkpoint-mongodb's MongoDBSaver (getTuple / list) on the same
 * FerretDB in the same run. Concurrency 1 (latency) and 16 (throughput).
 *
 * Run: npm run bench:read   (the local stack must run: npm run infra:up)
 * Env: THREADLOG_KAFKA_BROKERS, THREADLOG_MONGO_URL, THREADLOG_REDIS_URL, BENCH_READS
 *      (per cached cell, default 3000), BENCH_SLOW_READS (MongoDB-served cells, default 200),
 *      BENCH_LISTS (default 30).
 * Output: a table on stdout, bench/results/read-<timestamp>.json. Everything it creates
 * (topics, database, Redis keys) is removed at the end.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import path from 'node:path';
import { uuid6, type Checkpoint } from '@langchain/langgraph-checkpoint';
import { MongoDBSaver } from '@langchain/langgraph-checkpoint-mongodb';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import { createCheckpointStore, type CheckpointStore, type CheckpointStoreInput } from '../src/index.ts';

const env = process.env;
const brokers = (env.THREADLOG_KAFKA_BROKERS ?? `127.0.0.1:${env.THREADLOG_KAFKA_PORT ?? '19092'}`).split(',');
const mongoUrl = env.THREADLOG_MONGO_URL ?? `mongodb://127.0.0.1:${env.THREADLOG_MONGO_PORT ?? '27018'}/`;
const redisUrl = env.THREADLOG_REDIS_URL ?? `redis://127.0.0.1:${env.THREADLOG_REDIS_PORT ?? '16379'}`;
const READS = Number(env.BENCH_READS ?? 3000);
const LISTS = Number(env.BENCH_LISTS ?? 30);
// MongoDB-served reads take tens of ms on FerretDB: fewer of them keep a run to minutes
const SLOW_READS = Number(env.BENCH_SLOW_READS ?? 200);
const ID = `benchread${Date.now().toString(36)}`;
const ROOT = path.resolve(import.meta.dirname, '..');

function progress(label: string, done: number, total: number): void {
  if (done % Math.max(1, Math.floor(total / 20)) === 0 || done === total) process.stderr.write(`\r${label.padEnd(44)} ${String(Math.round((done / total) * 100)).padStart(3)}%`);
  if (done === total) process.stderr.write('\n');
}

interface Result {
  case: string;
  impl: 'threadlog' | 'MongoDBSaver';
  concurrency: number;
  ops: number;
  p50Ms: number;
  p99Ms: number;
  opsPerSec: number;
}

async function measure(label: string, impl: Result['impl'], concurrency: number, ops: number, op: () => Promise<unknown>): Promise<Result> {
  for (let i = 0; i < Math.min(200, ops / 10); i++) await op(); // warm-up: JIT, pools, caches
  const lat: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ops) {
        next++;
        const t = performance.now();
        await op();
        lat.push(performance.now() - t);
        progress(`${label} ${impl} c=${concurrency}`, lat.length, ops);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  return { case: label, impl, concurrency, ops: lat.length, p50Ms: q(0.5), p99Ms: q(0.99), opsPerSec: lat.length / seconds };
}

function checkpointOf(step: number, messages: string[]): Checkpoint {
  return { v: 4, id: uuid6(step), ts: new Date().toISOString(), channel_values: { messages, step }, channel_versions: { messages: step, step }, versions_seen: {} } as Checkpoint;
}

async function main(): Promise<void> {
  const mongo = new MongoClient(mongoUrl);
  const redis = new Redis(redisUrl);
  const base: CheckpointStoreInput = { kafka: { brokers }, mongo, dbName: ID, topicPrefix: ID, redisKeyPrefix: `${ID}:`, partitions: 3, generation: 'v1' };
  const writer = await createCheckpointStore({ ...base, redis, embeddedProjector: true });
  const l1Store = await createCheckpointStore({ ...base, redis });
  const l2Store = await createCheckpointStore({ ...base, redis, l1MaxBytes: 0 });
  const l3Store = await createCheckpointStore({ ...base, redis: false, l1MaxBytes: 0 });
  const saver = new MongoDBSaver({ client: mongo, dbName: `${ID}-saver` });
  const stores: CheckpointStore[] = [writer, l1Store, l2Store, l3Store];
  try {
    // the same data in both: a hot thread with a ~2 KiB chat state, and a 200-step thread
    const messages = Array.from({ length: 12 }, (_, i) => `message ${i}: ${'lorem ipsum dolor sit amet '.repeat(6)}`);
    const hot = `${ID}-hot`;
    const long = `${ID}-long`;
    const hotCp = checkpointOf(1, messages);
    await writer.save({ threadId: hot, checkpoint: hotCp, metadata: { source: 'loop', step: 1, parents: {} } });
    await saver.put({ configurable: { thread_id: hot, checkpoint_ns: '' } }, hotCp, { source: 'loop', step: 1, parents: {} });
    const longMessages: string[] = [];
    for (let step = 1; step <= 200; step++) {
      longMessages.push(`step ${step}: ${'the agent said something '.repeat(3)}`);
      const cp = checkpointOf(step, [...longMessages]);
      const meta = { source: 'loop' as const, step, parents: {} };
      await writer.save({ threadId: long, checkpoint: cp, metadata: meta, newVersions: { messages: step, step } });
      await saver.put({ configurable: { thread_id: long, checkpoint_ns: '' } }, cp, meta);
      progress('writing the 200-checkpoint thread', step, 200);
    }
    // caught up: a strong read of each thread
    for (const s of stores) {
      await s.load({ threadId: hot }, { consistency: 'strong', timeoutMs: 60_000 });
      await s.preload(long, 200);
    }
    const cfg = (t: string) => ({ configurable: { thread_id: t, checkpoint_ns: '' } });
    const listAll = async (it: AsyncIterable<unknown>): Promise<number> => {
      let n = 0;
      for await (const _ of it) n++;
      return n;
    };
    const results: Result[] = [];
    for (const c of [1, 16]) {
      results.push(await measure('latest, L1 hit', 'threadlog', c, READS, () => l1Store.load({ threadId: hot })));
      results.push(await measure('latest, L2 hit', 'threadlog', c, READS, () => l2Store.load({ threadId: hot })));
      results.push(await measure('latest, L3 (MongoDB)', 'threadlog', c, SLOW_READS, () => l3Store.load({ threadId: hot })));
      results.push(await measure('latest', 'MongoDBSaver', c, SLOW_READS, () => saver.getTuple(cfg(hot))));
      results.push(await measure('list 200', 'threadlog', c, LISTS, () => listAll(l1Store.list({ threadId: long }))));
      results.push(await measure('list 200', 'MongoDBSaver', c, LISTS, () => listAll(saver.list(cfg(long)))));
    }
    const baseline = (c: number, name: string): Result | undefined => results.find((r) => r.impl === 'MongoDBSaver' && r.concurrency === c && r.case === name);
    const rows = results.map((r) => {
      const b = r.impl === 'threadlog' ? baseline(r.concurrency, r.case.startsWith('list') ? 'list 200' : 'latest') : undefined;
      return { ...r, vsMongoDBSaver: b ? r.opsPerSec / b.opsPerSec : undefined };
    });
    console.log('\ncase                    impl          c   p50 ms   p99 ms     ops/s   x MongoDBSaver');
    for (const r of rows) {
      console.log(
        `${r.case.padEnd(23)} ${r.impl.padEnd(12)} ${String(r.concurrency).padStart(3)} ${r.p50Ms.toFixed(3).padStart(8)} ${r.p99Ms.toFixed(3).padStart(8)} ${r.opsPerSec.toFixed(0).padStart(9)}   ${r.vsMongoDBSaver === undefined ? '' : r.vsMongoDBSaver.toFixed(1)}`,
      );
    }
    const file = path.join(ROOT, 'bench/results', `read-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({ host: hostname(), cpus: cpus().length, node: process.version, reads: READS, lists: LISTS, results: rows, stats: { l1: l1Store.stats(), l2: l2Store.stats(), l3: l3Store.stats() } }, null, 2));
    console.log(`\nwritten ${path.relative(ROOT, file)}`);
  } finally {
    for (const s of stores) await s.close();
    await mongo.db(ID).dropDatabase().catch(() => undefined);
    await mongo.db(`${ID}-saver`).dropDatabase().catch(() => undefined);
    await mongo.close();
    const keys = await redis.keys(`${ID}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    const admin = new Kafka({ brokers, clientId: 'bench-read-cleanup', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(ID));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    await admin.disconnect();
  }
}

await main();
