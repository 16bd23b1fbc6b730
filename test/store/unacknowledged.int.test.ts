/**
 * A save resolves only once Kafka acknowledged it. Proxy-free: the store's Kafka is a local
 * TCP port that accepts connections and never answers (a broker that never acknowledges), or
 * one that refuses them. The save must not resolve: it rejects with a typed, retriable
 * 'kafka-unavailable' within the append timeout (plus slack for a busy machine), and a
 * read-your-writes load does not show it. MongoDB and Redis are the real local stack's.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCheckpointStore, type CheckpointStore } from '../../src/index.ts';
import { isThreadlogError, type ThreadlogError } from '../../src/errors.ts';
import { createKafkaClient } from '../../src/kafka/client.ts';
import { useIsolatedStack } from '../support/isolation.ts';
import { checkpoint, GENERATION, PARTITIONS } from './helpers.ts';

const stack = useIsolatedStack();
const APPEND_TIMEOUT_MS = 3_000;
const BOUND_MS = APPEND_TIMEOUT_MS + 7_000;

/** Accepts connections, reads what the client sends, never writes a byte back. */
async function silentBroker(): Promise<{ port: number; received: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let received = 0;
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => void (received += d.length));
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => received,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A port nothing listens on (bound, then released). */
async function refusingPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** `kafkaTimeoutMs`: kafkajs' own request and connection timeouts */
const openOn = (port: number, kafkaTimeoutMs: number): Promise<CheckpointStore> =>
  createCheckpointStore({
    kafka: createKafkaClient({
      brokers: [`127.0.0.1:${port}`],
      clientId: 'unacknowledged',
      retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 300 },
      requestTimeoutMs: kafkaTimeoutMs,
      connectionTimeoutMs: kafkaTimeoutMs,
    }),
    mongo: { url: stack.endpoints.mongoUrl },
    redis: { url: stack.endpoints.redisUrl },
    dbName: stack.dbName,
    topicPrefix: stack.topicPrefix,
    redisKeyPrefix: stack.redisPrefix,
    partitions: PARTITIONS,
    generation: GENERATION,
    // there is no broker to provision the topic on: the save is what must fail
    ensureTopics: false,
    appender: { appendTimeoutMs: APPEND_TIMEOUT_MS },
  });

/** Settles the save; what it settled with, and after how long. */
async function outcome(save: Promise<unknown>): Promise<{ resolved: boolean; error?: ThreadlogError; ms: number }> {
  const started = Date.now();
  return save.then(
    () => ({ resolved: true, ms: Date.now() - started }),
    (e: unknown) => {
      expect(isThreadlogError(e), String(e)).toBe(true);
      return { resolved: false, error: e as ThreadlogError, ms: Date.now() - started };
    },
  );
}

let silent: Awaited<ReturnType<typeof silentBroker>>;
const stores: CheckpointStore[] = [];

beforeAll(async () => {
  silent = await silentBroker();
});

afterAll(async () => {
  // first: kafkajs' connects to it give up once its sockets are gone, so the stores close
  await silent?.close();
  for (const s of stores) await s.close();
});

describe('a save resolves only once Kafka acknowledged it', () => {
  it('a broker that never answers: saves and putWrites reject, typed and retriable, within the bound; nothing reads back', async () => {
    // kafkajs would wait far longer than the append timeout: the bound is the store's own
    const store = await openOn(silent.port, 60_000);
    stores.push(store);
    const threadId = stack.unique('silent');
    const cp = checkpoint({ messages: ['hello'] });
    const [save, writes] = await Promise.all([
      outcome(store.save({ threadId, checkpoint: cp, newVersions: cp.channel_versions })),
      outcome(store.putWrites({ threadId, checkpointId: cp.id, taskId: 'task', writes: [['messages', ['hi']]] })),
    ]);
    for (const o of [save, writes]) {
      expect(o.resolved).toBe(false);
      expect(o.error?.code).toBe('kafka-unavailable');
      expect(o.error?.retriable).toBe(true);
      // pending until the append timeout: no answer, no resolution
      expect(o.ms).toBeGreaterThanOrEqual(APPEND_TIMEOUT_MS - 50);
      expect(o.error?.details?.indeterminate).toBe(true);
      expect(o.ms).toBeLessThan(BOUND_MS);
    }
    // the client did talk to the "broker": it was sent and never acknowledged
    expect(silent.received()).toBeGreaterThan(0);
    // read-your-writes covers acknowledged saves only
    expect(await store.load({ threadId })).toBeUndefined();
    expect(await store.load({ threadId, checkpointId: cp.id })).toBeUndefined();
    expect(store.stats().saves).toBe(0);
  }, 60_000);

  it('a port that refuses connections: the save rejects typed and retriable within the bound', async () => {
    const store = await openOn(await refusingPort(), 1_000);
    stores.push(store);
    const threadId = stack.unique('refused');
    const cp = checkpoint({ x: 1 });
    const o = await outcome(store.save({ threadId, checkpoint: cp, newVersions: cp.channel_versions }));
    expect(o.resolved).toBe(false);
    expect(o.error?.code).toBe('kafka-unavailable');
    expect(o.error?.retriable).toBe(true);
    expect(o.ms).toBeLessThan(BOUND_MS);
    expect(await store.load({ threadId })).toBeUndefined();
  }, 60_000);
});
