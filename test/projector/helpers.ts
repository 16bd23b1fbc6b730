/** Shared by the projector integration tests: writing the log, reading it back, comparing projections. */
import type { Db, Document } from 'mongodb';
import type { Redis } from 'ioredis';
import { afterAll, expect } from 'vitest';
import { pino, destination } from 'pino';
import { createAppender } from '../../src/kafka/appender.ts';
import { checkpointsTopic, ensureTopics } from '../../src/kafka/topics.ts';
import { createKafkaClient } from '../../src/kafka/client.ts';
import type { EventCodec } from '../../src/events/codec.ts';
import type { Receipt, ThreadlogEvent } from '../../src/events/types.ts';
import { collectionKinds } from '../../src/projection/documents.ts';
import { plainDoc } from '../../src/mongo/records.ts';
import { createRedisCache } from '../../src/redis/cache.ts';
import { createProjector, type Projector, type ProjectorOptions } from '../../src/projector/index.ts';
import { waitFor, type IsolatedStack } from '../support/isolation.ts';

export async function makeTopics(stack: Pick<IsolatedStack, 'admin' | 'topicPrefix'>, partitions: number): Promise<string> {
  await ensureTopics({ admin: await stack.admin(), prefix: stack.topicPrefix, partitions });
  return checkpointsTopic(stack.topicPrefix);
}

export interface LogWriter {
  write(events: ThreadlogEvent[]): Promise<Receipt[]>;
  close(): Promise<void>;
}

/** The real appender + codec, as the SDK writes: appends issued in order, awaited together. */
export function logWriter(stack: Pick<IsolatedStack, 'id' | 'topicPrefix'> & { endpoints: { kafkaBrokers: string[] } }, codec: EventCodec, partitions: number): LogWriter {
  const kafka = createKafkaClient({ brokers: stack.endpoints.kafkaBrokers, clientId: `${stack.id}-writer` });
  const appender = createAppender({ kafka, topic: checkpointsTopic(stack.topicPrefix), partitions });
  return {
    async write(events) {
      const encoded = await Promise.all(events.map((e) => codec.encode(e)));
      return Promise.all(encoded.map((records) => appender.append(records)));
    },
    close: () => appender.close(),
  };
}

/** End offsets (next offset to write) per partition. */
export async function endOffsets(stack: IsolatedStack, topic: string): Promise<Map<number, string>> {
  const offsets = await (await stack.admin()).fetchTopicOffsets(topic);
  return new Map(offsets.map((o) => [o.partition, o.high]));
}

/** Committed offsets of a group per partition ('-1': none). */
export async function committedOffsets(stack: IsolatedStack, groupId: string, topic: string): Promise<Map<number, string>> {
  const res = await (await stack.admin()).fetchOffsets({ groupId, topics: [topic] });
  return new Map((res[0]?.partitions ?? []).map((p) => [p.partition, p.offset]));
}

/** Until the Redis watermark of every non-empty partition is its end offset - 1. */
export async function waitCaughtUp(stack: IsolatedStack, redisPrefix: string, topic: string, timeoutMs = 60_000): Promise<void> {
  const ends = await endOffsets(stack, topic);
  const cache = createRedisCache({ redis: stack.redis(), prefix: redisPrefix });
  await waitFor(
    async () => {
      const wm = await cache.getWatermarks(topic);
      return [...ends].every(([p, end]) => end === '0' || wm.get(p) === String(BigInt(end) - 1n));
    },
    { timeoutMs, intervalMs: 200, what: `watermarks of ${topic} reaching the end offsets` },
  );
}

/** Every document of a generation, sorted by collection and _id, BSON binaries as bytes. */
export async function dumpGeneration(db: Db, generation: string): Promise<Record<string, Document[]>> {
  const out: Record<string, Document[]> = {};
  for (const kind of collectionKinds) {
    const docs = await db.collection(`${generation}_${kind}`).find({}).sort({ _id: 1 }).toArray();
    out[kind] = plainDoc(docs);
  }
  return out;
}

/** One string per document: keys sorted (toEqual ignores their order too), bytes as base64. */
function canonical(doc: Document): string {
  return JSON.stringify(doc, (_k, v: unknown) => {
    if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') };
    if (typeof v === 'bigint') return { $bigint: String(v) };
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return v;
  });
}

/**
 * Two dumps hold the same documents, collection by collection. Compared as canonical strings:
 * vitest's deep equality walks byte arrays element by element and took two minutes for the
 * crash test's 10k blobs. The first differing document is shown with a structural diff.
 */
export function expectSameGeneration(got: Record<string, Document[]>, want: Record<string, Document[]>): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const kind of Object.keys(want)) {
    const a = got[kind]!.map(canonical);
    const b = want[kind]!.map(canonical);
    if (a.length === b.length && a.every((x, i) => x === b[i])) continue;
    const byId = (docs: Document[]) => new Map(docs.map((d) => [String(d._id), d]));
    const [ga, wa] = [byId(got[kind]!), byId(want[kind]!)];
    const ids = [...new Set([...ga.keys(), ...wa.keys()])].sort();
    const first = ids.find((id) => ga.get(id) === undefined || wa.get(id) === undefined || canonical(ga.get(id)!) !== canonical(wa.get(id)!));
    expect(first === undefined ? got[kind] : ga.get(first!), `${kind}: first differing document ${first ?? '(order)'} (${a.length} vs ${b.length} documents)`).toEqual(first === undefined ? want[kind] : wa.get(first!));
    expect.unreachable(`${kind} differ in order only`);
  }
}

/** An embedded projector on the test's stack, stopped after the file. */
export function embeddedProjector(stack: IsolatedStack, options: Partial<ProjectorOptions> & { generation: string }): Projector {
  const p = createProjector({
    topicPrefix: stack.topicPrefix,
    brokers: stack.endpoints.kafkaBrokers,
    mongoUrl: stack.endpoints.mongoUrl,
    mongoDbName: stack.dbName,
    redisUrl: stack.endpoints.redisUrl,
    redisPrefix: stack.redisPrefix,
    ensureTopics: false,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1_000,
    ...(process.env.THREADLOG_TEST_LOG ? { logger: pino({ level: process.env.THREADLOG_TEST_LOG }, destination(2)).child({ generation: options.generation, groupId: options.groupId }) } : {}),
    ...options,
  });
  afterAll(() => p.stop());
  return p;
}

export async function redisHead(redis: Redis, prefix: string, thread: string, ns = ''): Promise<{ checkpointId: string; payload: string } | undefined> {
  const h = await createRedisCache({ redis, prefix }).getHead(thread, ns);
  return h && { checkpointId: h.checkpointId, payload: h.payload.toString('utf8') };
}
