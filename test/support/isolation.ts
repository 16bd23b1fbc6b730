/**
 * Per-file isolation on the shared local stack: every test file gets its own topic prefix,
 * MongoDB database and Redis key prefix, and everything it made is removed after the file.
 * Clients made here are closed here; tests that make their own clients close them.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin, type ITopicConfig } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import { afterAll, inject } from 'vitest';
import type { StackEndpoints } from './env.ts';

export interface IsolatedStack {
  endpoints: StackEndpoints;
  /** unique per file, e.g. `t-1a2b3c4d`; use as topic prefix, database name and Redis prefix */
  id: string;
  topicPrefix: string;
  dbName: string;
  redisPrefix: string;
  kafka: Kafka;
  admin(): Promise<Admin>;
  mongo(): Promise<MongoClient>;
  redis(): Redis;
  /** a fresh unique name inside this file's namespace */
  unique(label: string): string;
}

export function useIsolatedStack(): IsolatedStack {
  const endpoints = inject('endpoints');
  const id = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const kafka = new Kafka({ clientId: `threadlog-test-${id}`, brokers: endpoints.kafkaBrokers, logLevel: logLevel.NOTHING });
  let admin: Admin | undefined;
  let mongo: MongoClient | undefined;
  let redis: Redis | undefined;
  let counter = 0;

  const stack: IsolatedStack = {
    endpoints,
    id,
    topicPrefix: id,
    dbName: id,
    redisPrefix: `${id}:`,
    kafka,
    async admin() {
      if (!admin) {
        admin = kafka.admin();
        await admin.connect();
      }
      return admin;
    },
    async mongo() {
      if (!mongo) {
        mongo = new MongoClient(endpoints.mongoUrl);
        await mongo.connect();
      }
      return mongo;
    },
    redis() {
      redis ??= new Redis(endpoints.redisUrl, { maxRetriesPerRequest: 2 });
      return redis;
    },
    unique(label: string) {
      counter += 1;
      return `${id}-${label}-${counter}`;
    },
  };

  afterAll(async () => {
    const a = await stack.admin();
    const topics = (await a.listTopics()).filter((t) => t.startsWith(id));
    if (topics.length > 0) await a.deleteTopics({ topics, timeout: 30_000 });
    const groups = (await a.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(id));
    if (groups.length > 0) await a.deleteGroups(groups).catch(() => undefined);
    await a.disconnect();
    const m = await stack.mongo();
    await m.db(stack.dbName).dropDatabase();
    await m.close();
    const r = stack.redis();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${stack.redisPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
    r.disconnect();
  });

  return stack;
}

/** Poll until `check` returns a truthy value; the polling replaces fixed sleeps. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  { timeoutMs = 30_000, intervalMs = 50, what = 'condition' }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Creates a topic and returns once every partition has a leader. kafkajs' own waitForLeaders
 * gives up at once when a busy broker answers UNKNOWN_TOPIC_OR_PARTITION for a topic it has
 * just created (seen in CI), so the create is retried (a repeat returns false) and the
 * metadata polled until it settles.
 */
export async function createTopicSettled(
  admin: Admin,
  topic: ITopicConfig,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    async () => {
      await admin.createTopics({ topics: [topic], waitForLeaders: false });
      const meta = await admin.fetchTopicMetadata({ topics: [topic.topic] });
      const parts = meta.topics[0]?.partitions ?? [];
      return parts.length === (topic.numPartitions ?? parts.length) && parts.length > 0 && parts.every((p) => p.leader >= 0);
    },
    { timeoutMs, intervalMs: 100, what: `topic ${topic.topic} to have a leader on every partition` },
  );
}
