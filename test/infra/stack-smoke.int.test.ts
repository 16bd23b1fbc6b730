/**
 * Proves the local stack is real: a Kafka broker with working consumer groups, a
 * MongoDB-wire server that upserts and finds by _id, and a Redis that runs Lua.
 */
import { describe, expect, it } from 'vitest';
import { createTopicSettled, useIsolatedStack, waitFor } from '../support/isolation.ts';

const stack = useIsolatedStack();

describe('local stack', () => {
  it('Kafka: create a topic, produce idempotently, consume through a group and commit', async () => {
    const admin = await stack.admin();
    const topic = stack.unique('smoke');
    await createTopicSettled(admin, { topic, numPartitions: 3 });

    const producer = stack.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const sent = await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: 30 }, (_, i) => ({ key: `thread-${i % 5}`, value: `v${i}` })),
    });
    await producer.disconnect();
    expect(sent.reduce((n, r) => n + (r.baseOffset === undefined ? 0 : 1), 0)).toBeGreaterThan(0);

    const groupId = stack.unique('group');
    const consumer = stack.kafka.consumer({ groupId });
    const seen: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message, partition }) => {
        seen.push(String(message.value));
        await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      },
    });
    await waitFor(() => seen.length === 30, { what: '30 messages consumed' });
    await consumer.disconnect();
    expect(new Set(seen).size).toBe(30);

    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    const total = committed[0]!.partitions.reduce((n, p) => n + Number(p.offset), 0);
    expect(total).toBe(30);
  });

  it('FerretDB: insert, upsert and find by _id through the official driver', async () => {
    const db = (await stack.mongo()).db(stack.dbName);
    const col = db.collection<{ _id: string; n: number; tag?: string }>('smoke');
    await col.insertOne({ _id: 'cp:a:b', n: 1 });
    await col.updateOne({ _id: 'cp:a:b' }, { $set: { n: 2 } }, { upsert: true });
    await col.updateOne({ _id: 'cp:a:c' }, { $set: { n: 3, tag: 'new' } }, { upsert: true });
    expect(await col.findOne({ _id: 'cp:a:b' })).toEqual({ _id: 'cp:a:b', n: 2 });
    expect(await col.findOne({ _id: 'cp:a:c' })).toEqual({ _id: 'cp:a:c', n: 3, tag: 'new' });
    await expect(col.insertOne({ _id: 'cp:a:b', n: 9 })).rejects.toMatchObject({ code: 11000 });
  });

  it('Redis: SET, GET and EVAL', async () => {
    const r = stack.redis();
    const key = `${stack.redisPrefix}{t}:smoke`;
    await r.set(key, 'one');
    expect(await r.get(key)).toBe('one');
    const out = await r.eval(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2]) end return nil",
      1,
      key,
      'one',
      'two',
    );
    expect(out).toBe('OK');
    expect(await r.get(key)).toBe('two');
  });
});
