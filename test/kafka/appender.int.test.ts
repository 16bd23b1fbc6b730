/**
 * The batching appender against the real broker: receipts point at the records the broker
 * holds, concurrency keeps per-thread order and exactly-once, back-pressure bounds memory,
 * multi-record events stay contiguous, and flush/close behave.
 */
import { describe, expect, it, afterAll } from 'vitest';
import type { Producer } from 'kafkajs';
import { useIsolatedStack } from '../support/isolation.ts';
import { createAppender, type AppendRecord, type Appender } from '../../src/kafka/appender.ts';
import { createKafkaClient } from '../../src/kafka/client.ts';
import { ensureTopics } from '../../src/kafka/topics.ts';
import { noopAppenderMetrics } from '../../src/kafka/metrics.ts';
import { isThreadlogError } from '../../src/errors.ts';
import type { Receipt } from '../../src/events/types.ts';
import { byPosition, readTopic } from './helpers.ts';

const stack = useIsolatedStack();
const kafka = createKafkaClient({ brokers: stack.endpoints.kafkaBrokers, clientId: `appender-${stack.id}` });
const appenders: Appender[] = [];
afterAll(async () => {
  await Promise.all(appenders.map((a) => a.close()));
});

async function topic(partitions = 12, maxMessageBytes?: number): Promise<string> {
  const admin = await stack.admin();
  const t = await ensureTopics({ admin, prefix: stack.unique('ap'), partitions, ...(maxMessageBytes ? { maxMessageBytes } : {}) });
  return t.checkpoints.topic;
}

function appender(options: Parameters<typeof createAppender>[0]): Appender {
  const a = createAppender({ kafka, ...options });
  appenders.push(a);
  return a;
}

const rec = (key: string, value: string, headers: Record<string, string> = {}): AppendRecord => ({
  key,
  value: Buffer.from(value),
  headers,
});

describe('appender', () => {
  it('resolves each append with the partition and offset where a consumer finds its record', async () => {
    const t = await topic();
    const a = appender({ topic: t });
    const receipts = await Promise.all(
      Array.from({ length: 200 }, (_, i) => a.append([rec(`thread-${i % 17}`, `v${i}`, { 'tl-seq': String(i) })])),
    );
    const read = byPosition(await readTopic(stack.endpoints.kafkaBrokers, t, 200));
    receipts.forEach((r, i) => {
      expect(r.topic).toBe(t);
      const got = read.get(`${r.partition}@${r.offset}`);
      expect(got?.value.toString()).toBe(`v${i}`);
      expect(got?.key).toBe(`thread-${i % 17}`);
      expect(got?.headers['tl-seq']).toBe(String(i));
    });
    // a lone append after the burst is sent without waiting for company
    const lone = await a.append([rec('thread-0', 'lone')]);
    expect(BigInt(lone.offset)).toBeGreaterThan(0n);
  });

  it('10,000 concurrent appends over 500 threads land exactly once and in per-thread order', async () => {
    const t = await topic();
    const a = appender({ topic: t });
    const n = 10_000;
    const seqByThread = new Map<string, number>();
    const sent: Array<{ key: string; seq: number }> = [];
    for (let i = 0; i < n; i++) {
      const key = `thread-${i % 500}`;
      const seq = seqByThread.get(key) ?? 0;
      seqByThread.set(key, seq + 1);
      sent.push({ key, seq });
    }
    const receipts = await Promise.all(sent.map(({ key, seq }) => a.append([rec(key, `${key}:${seq}`)])));
    expect(new Set(receipts.map((r) => `${r.partition}@${r.offset}`)).size).toBe(n);

    const read = await readTopic(stack.endpoints.kafkaBrokers, t, n);
    expect(read).toHaveLength(n);
    const perThread = new Map<string, Array<{ offset: bigint; seq: number; partition: number }>>();
    for (const r of read) {
      const [key, seq] = r.value.toString().split(':');
      const list = perThread.get(key!) ?? [];
      list.push({ offset: BigInt(r.offset), seq: Number(seq), partition: r.partition });
      perThread.set(key!, list);
    }
    expect(perThread.size).toBe(500);
    for (const list of perThread.values()) {
      expect(new Set(list.map((x) => x.partition)).size).toBe(1);
      list.sort((x, y) => (x.offset < y.offset ? -1 : 1));
      expect(list.map((x) => x.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    }
    const positions = byPosition(read);
    receipts.forEach((r, i) => expect(positions.get(`${r.partition}@${r.offset}`)?.value.toString()).toBe(`${sent[i]!.key}:${sent[i]!.seq}`));
  });

  it('back-pressure: a tiny buffer holds appends back instead of growing, and everything completes in order', async () => {
    const t = await topic(3);
    let maxSeen = 0;
    const maxBufferedBytes = 4096;
    const a = appender({
      topic: t,
      partitions: 3,
      maxBatchBytes: 1024,
      maxBufferedBytes,
      metrics: { ...noopAppenderMetrics, setBufferedBytes: (b) => (maxSeen = Math.max(maxSeen, b)) },
    });
    const n = 2_000;
    const receipts = await Promise.all(Array.from({ length: n }, (_, i) => a.append([rec(`k${i % 7}`, `${i}:${'x'.repeat(150)}`)])));
    expect(receipts).toHaveLength(n);
    expect(maxSeen).toBeGreaterThan(0);
    expect(maxSeen).toBeLessThanOrEqual(maxBufferedBytes);
    expect(a.bufferedBytes).toBe(0);
    // call order survives the waiting room: per key, offsets grow with the call index
    const last = new Map<string, bigint>();
    receipts.forEach((r, i) => {
      const key = `k${i % 7}`;
      const off = BigInt(r.offset);
      expect(off > (last.get(key) ?? -1n)).toBe(true);
      last.set(key, off);
    });
  });

  it('keeps the records of a big multi-record event contiguous and in order on its partition', async () => {
    const t = await topic(4);
    // batches of ~256 KiB, so the 2 MiB event spans several sendBatch calls
    const a = appender({ topic: t, partitions: 4, maxBatchBytes: 256 * 1024 });
    const chunk = (i: number): AppendRecord => rec('big-thread', `${i}:${'c'.repeat(100 * 1024)}`, { 'tl-chunk': String(i) });
    const before = Array.from({ length: 50 }, (_, i) => a.append([rec(i % 2 ? 'big-thread' : `other-${i}`, `before-${i}`)]));
    const big = a.append(Array.from({ length: 20 }, (_, i) => chunk(i)));
    const after = Array.from({ length: 50 }, (_, i) => a.append([rec(i % 2 ? 'big-thread' : `other-${i}`, `after-${i}`)]));
    const [receipt] = await Promise.all([big, Promise.all(before), Promise.all(after)]);
    const read = await readTopic(stack.endpoints.kafkaBrokers, t, 120);
    const onPartition = read
      .filter((r) => r.partition === receipt.partition)
      .sort((x, y) => (BigInt(x.offset) < BigInt(y.offset) ? -1 : 1));
    const chunks = onPartition.filter((r) => r.headers['tl-chunk'] !== undefined);
    expect(chunks.map((r) => Number(r.headers['tl-chunk']))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const first = BigInt(chunks[0]!.offset);
    chunks.forEach((r, i) => expect(BigInt(r.offset)).toBe(first + BigInt(i)));
    expect(receipt.offset).toBe(chunks[19]!.offset);
  });

  it('a failed batch rejects exactly its appends, with a typed error, and the appender goes on', async () => {
    const t = await topic(2, 20_000);
    const a = appender({ topic: t, partitions: 2, maxBatchBytes: 10_000 });
    const small = Array.from({ length: 30 }, (_, i) => a.append([rec(`s${i}`, `small-${i}`)]));
    const tooBig = a.append([rec('big', 'x'.repeat(200_000))]);
    const more = Array.from({ length: 30 }, (_, i) => a.append([rec(`s${i}`, `more-${i}`)]));
    const err = await tooBig.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isThreadlogError(err, 'payload-too-large')).toBe(true);
    expect(await Promise.all([...small, ...more])).toHaveLength(60);
    await expect(a.append([rec('after', 'ok')])).resolves.toMatchObject({ topic: t });
  });

  it('flush waits for earlier appends; close drains, is idempotent, and later appends are refused', async () => {
    const t = await topic(3);
    const a = createAppender({ kafka, topic: t, partitions: 3, lingerMs: 50 });
    const settled: Receipt[] = [];
    const ps = Array.from({ length: 20 }, (_, i) => a.append([rec(`f${i}`, `${i}`)]).then((r) => settled.push(r)));
    const started = Date.now();
    await a.flush();
    expect(settled).toHaveLength(20);
    // flush skipped the 50 ms linger
    expect(Date.now() - started).toBeLessThan(2_000);
    await Promise.all(ps);

    const pending = Array.from({ length: 20 }, (_, i) => a.append([rec(`c${i}`, `${i}`)]));
    const closing = a.close();
    expect(a.close()).toBe(closing);
    await closing;
    expect(await Promise.all(pending)).toHaveLength(20);
    await a[Symbol.asyncDispose]();
    await expect(a.append([rec('late', 'x')])).rejects.toMatchObject({ code: 'buffer-closed' });
  });

  it('never disconnects a producer it was given', async () => {
    const t = await topic(3);
    const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const a = createAppender({ producer, topic: t, partitions: 3 });
      await a.append([rec('p', '1')]);
      await a.close();
      const sent = await producer.send({ topic: t, acks: -1, messages: [{ key: 'p', value: '2' }] });
      expect(sent[0]?.errorCode).toBe(0);
    } finally {
      await producer.disconnect();
    }
  });
});
