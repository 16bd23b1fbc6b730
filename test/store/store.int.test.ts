/**
 * Store behaviour on the real stack with an in-process projector: cache levels and refills,
 * Redis outages, filter injection, hostile thread ids, deletes across instances, list /
 * stream / preload, and append-delta channels read back whole.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { isThreadlogError, type CheckpointStore, type Receipt } from '../../src/index.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { checkpoint, collect, openStore, startProjector } from './helpers.ts';

const stack = useIsolatedStack();
let a: CheckpointStore;
let b: CheckpointStore;
const meta = (step: number, extra: Record<string, unknown> = {}) => ({ source: 'loop' as const, step, parents: {}, ...extra });

beforeAll(async () => {
  await startProjector(stack);
  a = await openStore(stack);
  b = await openStore(stack);
});


describe('caches', () => {
  it('fills L1 and L2 on a miss and serves from them afterwards', async () => {
    const thread = stack.unique('levels');
    const cp = checkpoint({ a: 1 });
    await a.save({ threadId: thread, checkpoint: cp });
    await a.load({ threadId: thread, checkpointId: cp.id });
    const before = a.stats();
    expect((await a.load({ threadId: thread, checkpointId: cp.id }))?.checkpoint.channel_values).toEqual({ a: 1 });
    expect(a.stats().hits.l1).toBe(before.hits.l1 + 1);
    // another instance: its L1 is cold, Redis has the entry this one stored
    await waitFor(async () => (await b.load({ threadId: thread, checkpointId: cp.id }, { consistency: 'eventual' })) !== undefined);
    const b0 = b.stats();
    await b.load({ threadId: thread, checkpointId: cp.id }, { consistency: 'eventual' });
    expect(b.stats().hits.l1).toBe(b0.hits.l1 + 1);
    expect(b.stats().l1Bytes).toBeGreaterThan(0);
  });

  it('reads keep working from MongoDB when Redis does not listen', async () => {
    const c = await openStore(stack, { redis: { url: 'redis://127.0.0.1:1' }, redisTimeoutMs: 100 });
    const thread = stack.unique('no-redis');
    const cp = checkpoint({ x: 'mongo only' });
    await c.save({ threadId: thread, checkpoint: cp });
    const got = await c.load({ threadId: thread });
    expect(got?.checkpointId).toBe(cp.id);
    expect(c.stats().redisDegraded).toBe(true);
    expect((await collect(c.list({ threadId: thread }))).map((s) => s.checkpointId)).toEqual([cp.id]);
    const health = await c.health();
    expect(health.status).toBe('degraded');
    expect(health.services.redis.ok).toBe(false);
  });

  it('reads keep working when the Redis client is disconnected mid-test', async () => {
    const redis = new Redis(stack.endpoints.redisUrl, { maxRetriesPerRequest: 1 });
    const c = await openStore(stack, { redis, redisTimeoutMs: 100, headCheckMs: 0 });
    const thread = stack.unique('drop-redis');
    const first = checkpoint({ n: 1 }, 1);
    await c.save({ threadId: thread, checkpoint: first });
    expect((await c.load({ threadId: thread }))?.checkpointId).toBe(first.id);
    redis.disconnect();
    const second = checkpoint({ n: 2 }, 2);
    await c.save({ threadId: thread, checkpoint: second });
    expect((await c.load({ threadId: thread }))?.checkpoint.channel_values).toEqual({ n: 2 });
    expect(c.stats().redisDegraded).toBe(true);
  });
});

describe('safety', () => {
  it('rejects filter injection attempts', async () => {
    const attempts: unknown[] = [{ $where: '1' }, { 'a.b': 1 }, { source: { $ne: null } }, { step: [1] }, { x: Number.NaN }, [], 'source'];
    for (const filter of attempts) {
      const err = await collect(a.list({ filter: filter as never })).then(() => undefined, (e: unknown) => e);
      expect(isThreadlogError(err, 'invalid-filter'), JSON.stringify(filter)).toBe(true);
    }
    const thread = stack.unique('filter');
    await a.save({ threadId: thread, checkpoint: checkpoint({ q: 1 }), metadata: meta(1, { user: 'alice' }) });
    await a.save({ threadId: thread, checkpoint: checkpoint({ q: 2 }), metadata: meta(2, { user: 'bob' }) });
    expect((await collect(a.list({ threadId: thread, filter: { user: 'bob' } }))).map((s) => s.metadata.step)).toEqual([2]);
    expect((await collect(a.list({ filter: { user: 'alice' } }))).map((s) => s.threadId)).toEqual([thread]);
  });

  it('hostile thread ids round-trip without colliding', async () => {
    const hostile = ['a:b', 'a', 'a:', '{a}', '}{', '"quoted"', "it's", 'ünïcødé 🧵', '%3A', 'x'.repeat(900), '$where', 'a.b'];
    const saved = new Map<string, string>();
    for (const t of hostile) {
      const cp = checkpoint({ who: t });
      await a.save({ threadId: t + stack.id, checkpoint: cp });
      saved.set(t, cp.id);
    }
    for (const t of hostile) {
      const got = await a.load({ threadId: t + stack.id });
      expect(got?.checkpointId, JSON.stringify(t)).toBe(saved.get(t));
      expect(got?.checkpoint.channel_values).toEqual({ who: t });
      const fromB = await b.load({ threadId: t + stack.id, checkpointId: saved.get(t)! }, { consistency: 'strong' });
      expect(fromB?.threadId).toBe(t + stack.id);
    }
    // ids no store layer can hold as the same string are refused before anything is written
    for (const bad of ['a\u0000b', 'x\uD800y']) {
      await expect(a.save({ threadId: bad, checkpoint: checkpoint({ who: 'bad' }) })).rejects.toMatchObject({ code: 'invalid-thread-id' });
    }
  });
});

describe('timeline', () => {
  it('list (newest first, before, limit), stream (oldest first), preload', async () => {
    const thread = stack.unique('timeline');
    const ids: string[] = [];
    const batch = Array.from({ length: 25 }, (_, i) => {
      const cp = checkpoint({ i }, i + 1);
      ids.push(cp.id);
      return { threadId: thread, checkpoint: cp, metadata: meta(i) };
    });
    const receipts = await a.saveBatch(batch);
    expect(receipts).toHaveLength(25);
    const listed = await collect(a.list({ threadId: thread }));
    expect(listed.map((s) => s.checkpointId)).toEqual([...ids].reverse());
    expect((await collect(a.list({ threadId: thread, before: ids[10], limit: 3 }))).map((s) => s.checkpointId)).toEqual([ids[9], ids[8], ids[7]]);
    expect((await collect(a.stream(thread, { pageSize: 4 }))).map((s) => s.checkpointId)).toEqual(ids);
    expect(await b.preload(thread, 10)).toBe(10);
    const hits = b.stats().hits.l1;
    await b.load({ threadId: thread, checkpointId: ids[20]! }, { consistency: 'eventual' });
    expect(b.stats().hits.l1).toBe(hits + 1);
  });

  it('a cold list reads pending writes once per page, and shows each checkpoint\'s own', async () => {
    const thread = stack.unique('page-writes');
    const ids: string[] = [];
    let last: Receipt | undefined;
    for (let i = 0; i < 12; i++) {
      const cp = checkpoint({ i }, i + 1);
      ids.push(cp.id);
      last = await a.save({ threadId: thread, checkpoint: cp, metadata: meta(i) });
      if (i % 3 === 0) last = await a.putWrites({ threadId: thread, checkpointId: cp.id, taskId: `task-${i}`, writes: [['i', i]] });
    }
    const client = new MongoClient(stack.endpoints.mongoUrl, { monitorCommands: true });
    const finds: string[] = [];
    client.on('commandStarted', (e) => e.commandName === 'find' && finds.push(String((e.command as { find: string }).find)));
    try {
      const cold = await openStore(stack, { mongo: client, pageSize: 5, writeThrough: false });
      const listed = await collect(cold.list({ threadId: thread, consistency: 'eventual', after: last }));
      expect(listed.map((s) => s.checkpointId)).toEqual([...ids].reverse());
      for (const s of listed) {
        const i = ids.indexOf(s.checkpointId);
        expect(s.pendingWrites).toEqual(i % 3 === 0 ? [{ taskId: `task-${i}`, channel: 'i', value: i }] : []);
      }
      // 12 checkpoints in pages of 5: three pages, one pending-writes query each
      expect(finds.filter((c) => c.endsWith('_writes')).length).toBe(3);
    } finally {
      await client.close();
    }
  });

  it('append-delta channels read back in full', async () => {
    const thread = stack.unique('deltas');
    const messages: string[] = [];
    let last;
    for (let step = 1; step <= 40; step++) {
      messages.push(`message ${step}`);
      last = checkpoint({ messages: [...messages], step }, step);
      await a.save({ threadId: thread, checkpoint: last, newVersions: { messages: step, step } });
    }
    const got = await b.load({ threadId: thread }, { consistency: 'strong' });
    expect(got?.checkpoint.channel_values.messages).toEqual(messages);
    const mid = (await collect(b.list({ threadId: thread, limit: 30 })))[29];
    expect(mid?.checkpoint.channel_values.messages).toEqual(messages.slice(0, 11));
  });

  it('deleteThread removes it from every level, here and in another instance', async () => {
    const thread = stack.unique('delete');
    const cp = checkpoint({ doomed: true });
    await a.save({ threadId: thread, checkpoint: cp });
    await a.load({ threadId: thread });
    await waitFor(async () => (await b.load({ threadId: thread, checkpointId: cp.id }, { consistency: 'eventual' })) !== undefined);
    await a.deleteThread(thread);
    expect(await a.load({ threadId: thread })).toBeUndefined();
    expect(await a.load({ threadId: thread, checkpointId: cp.id })).toBeUndefined();
    expect(await collect(a.list({ threadId: thread }))).toEqual([]);
    await waitFor(async () => (await b.load({ threadId: thread, checkpointId: cp.id }, { consistency: 'eventual' })) === undefined, { what: 'deleted in b' });
    expect(await b.load({ threadId: thread }, { consistency: 'strong' })).toBeUndefined();
  });
});

describe('operations', () => {
  it('health reports services, lag and stats; close is idempotent and final', async () => {
    const h = await a.health();
    expect(h.services.kafka.ok && h.services.mongodb.ok && h.services.redis.ok).toBe(true);
    expect(Object.keys(h.lag).length).toBeGreaterThan(0);
    const c = await openStore(stack);
    await c.close();
    await c.close();
    const err = await c.load({ threadId: 'x' }).then(() => undefined, (e: unknown) => e);
    expect(isThreadlogError(err, 'closed')).toBe(true);
  });
});
