/**
 * Read-your-own-write round trips, as LangGraph does them (save a step, read the latest
 * checkpoint back): save → load(latest, session) with write-through (the default) against
 * the same with write-through off, which waits for the projector to apply the save as every
 * session read did before, and against `strong`. A chat-shaped thread per worker: a growing
 * message list (append deltas) and a step counter, only the changed channels written.
 * The projector runs embedded in its own store instance in this process.
 *
 * Run: npm run bench:session   (the local stack must run: npm run infra:up)
 * Env: THREADLOG_KAFKA_BROKERS, THREADLOG_MONGO_URL, THREADLOG_REDIS_URL, BENCH_ROUNDS
 *      (round trips per cell, default 200).
 * Output: a table on stdout, bench/results/session-<timestamp>.json. Everything it creates
 * (topics, database, Redis keys) is removed at the end.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import path from 'node:path';
import { uuid6, type Checkpoint } from '@langchain/langgraph-checkpoint';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import { createCheckpointStore, type CheckpointStore, type CheckpointStoreInput, type Consistency } from '../src/index.ts';

const env = process.env;
const brokers = (env.THREADLOG_KAFKA_BROKERS ?? `127.0.0.1:${env.THREADLOG_KAFKA_PORT ?? '19092'}`).split(',');
const mongoUrl = env.THREADLOG_MONGO_URL ?? `mongodb://127.0.0.1:${env.THREADLOG_MONGO_PORT ?? '27018'}/`;
const redisUrl = env.THREADLOG_REDIS_URL ?? `redis://127.0.0.1:${env.THREADLOG_REDIS_PORT ?? '16379'}`;
const ROUNDS = Number(env.BENCH_ROUNDS ?? 200);
const ID = `benchsession${Date.now().toString(36)}`;
const ROOT = path.resolve(import.meta.dirname, '..');

interface Result {
  case: string;
  concurrency: number;
  rounds: number;
  roundTripP50Ms: number;
  roundTripP99Ms: number;
  loadP50Ms: number;
  loadP99Ms: number;
}

const quantile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

/** `concurrency` workers, each on its own thread, save a step then load the latest back */
async function measure(label: string, store: CheckpointStore, consistency: Consistency, concurrency: number): Promise<Result> {
  const trips: number[] = [];
  const loads: number[] = [];
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const threadId = `${ID}-${label.replace(/\W+/g, '')}-${concurrency}-${w}`;
      const messages: string[] = [];
      let parent: string | undefined;
      for (let step = 1; done < ROUNDS; step++) {
        messages.push(`step ${step}: ${'the agent said something '.repeat(4)}`);
        const cp = { v: 4, id: uuid6(w), ts: new Date().toISOString(), channel_values: { messages: [...messages], step }, channel_versions: { messages: step, step }, versions_seen: {} } as Checkpoint;
        const t0 = performance.now();
        await store.save({ threadId, checkpoint: cp, metadata: { source: 'loop', step, parents: {} }, newVersions: { messages: step, step }, parentCheckpointId: parent });
        const t1 = performance.now();
        const got = await store.load({ threadId }, { consistency, timeoutMs: 60_000 });
        const t2 = performance.now();
        if (got?.checkpointId !== cp.id || got.checkpoint.channel_values.step !== step) throw new Error(`${label}: read ${got?.checkpointId} after saving ${cp.id}`);
        parent = cp.id;
        // the first steps warm up connections, JIT and caches
        if (step > 5) {
          trips.push(t2 - t0);
          loads.push(t2 - t1);
          done++;
        }
      }
    }),
  );
  const r = { case: label, concurrency, rounds: trips.length, roundTripP50Ms: quantile(trips, 0.5), roundTripP99Ms: quantile(trips, 0.99), loadP50Ms: quantile(loads, 0.5), loadP99Ms: quantile(loads, 0.99) };
  console.log(row(r));
  return r;
}

const pair = (a: number, b: number): string => `${a.toFixed(3).padStart(8)} ${b.toFixed(3).padStart(8)}`;
const row = (r: Result): string =>
  `${r.case.padEnd(26)} ${String(r.concurrency).padStart(3)}   ${pair(r.roundTripP50Ms, r.roundTripP99Ms)}       ${pair(r.loadP50Ms, r.loadP99Ms)}`;

async function main(): Promise<void> {
  const mongo = new MongoClient(mongoUrl);
  const redis = new Redis(redisUrl);
  const base: CheckpointStoreInput = { kafka: { brokers }, mongo, redis, dbName: ID, topicPrefix: ID, redisKeyPrefix: `${ID}:`, partitions: 3, generation: 'v1' };
  const projector = await createCheckpointStore({ ...base, embeddedProjector: true });
  const writeThrough = await createCheckpointStore(base);
  const waiting = await createCheckpointStore({ ...base, writeThrough: false });
  const stores = [projector, writeThrough, waiting];
  try {
    const results: Result[] = [];
    console.log('case                         c   round trip p50/p99 ms   load p50/p99 ms');
    for (const c of [1, 8]) {
      results.push(await measure('session, write-through', writeThrough, 'session', c));
      results.push(await measure('session, waiting (before)', waiting, 'session', c));
      results.push(await measure('strong', writeThrough, 'strong', c));
    }
    const file = path.join(ROOT, 'bench/results', `session-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify({ host: hostname(), cpus: cpus().length, node: process.version, rounds: ROUNDS, results }, null, 2));
    console.log(`\nwritten ${path.relative(ROOT, file)}`);
  } finally {
    for (const s of stores) await s.close();
    await mongo.db(ID).dropDatabase().catch(() => undefined);
    await mongo.close();
    const keys = await redis.keys(`${ID}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    const admin = new Kafka({ brokers, clientId: 'bench-session-cleanup', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(ID));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    await admin.disconnect();
  }
}

await main();
