import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { createRedisCache, type RedisCache, type Watermark } from '../../src/redis/cache.ts';
import { isThreadlogError } from '../../src/errors.ts';
import { cpId, rng } from '../projection/fixtures.ts';

const stack = useIsolatedStack();
const cache = (over: Partial<Parameters<typeof createRedisCache>[0]> = {}): RedisCache =>
  createRedisCache({ redis: stack.redis(), prefix: stack.redisPrefix, ttlSeconds: 60, ...over });
const at = (offset: number) => ({ partition: 3, offset: String(offset) });

async function keysOf(prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await stack.redis().scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found.sort();
}

describe('Redis cache upkeep', () => {
  it('a head only moves forward: checkpoint id first, then position', async () => {
    const c = cache();
    const t = stack.unique('head');
    expect(await c.advanceHead(t, '', { checkpointId: cpId(2), position: at(10) }, 'two')).toBe(true);
    expect(await c.advanceHead(t, '', { checkpointId: cpId(1), position: at(11) }, 'one, later')).toBe(false);
    expect(await c.advanceHead(t, '', { checkpointId: cpId(2), position: at(10) }, 'again')).toBe(false);
    expect(await c.advanceHead(t, '', { checkpointId: cpId(2), position: at(12) }, 'two, re-put')).toBe(true);
    const h = await c.getHead(t, '');
    expect(h).toMatchObject({ checkpointId: cpId(2), position: at(12) });
    expect(h?.payload.toString()).toBe('two, re-put');
    expect(await c.getHead(t, 'other-ns')).toBeUndefined();
  });

  it('two writers racing in different orders never move a head backwards', async () => {
    const c = cache();
    const t = stack.unique('race');
    const heads = Array.from({ length: 200 }, (_, i) => ({ checkpointId: cpId(i + 1), position: at(i) }));
    const r = rng(7);
    const shuffled = [...heads].sort(() => r() - 0.5);
    const seen: string[] = [];
    let done = false;
    const watch = (async () => {
      while (!done) {
        const h = await c.getHead(t, '');
        if (h) seen.push(h.checkpointId);
      }
    })();
    try {
      await Promise.all([
        (async () => { for (const h of heads) await c.advanceHead(t, '', h, h.checkpointId); })(),
        (async () => { for (const h of shuffled) await c.advanceHead(t, '', h, h.checkpointId); })(),
      ]);
    } finally {
      done = true;
      await watch;
    }
    expect((await c.getHead(t, ''))?.checkpointId).toBe(cpId(200));
    for (let i = 1; i < seen.length; i += 1) expect(seen[i]! >= seen[i - 1]!).toBe(true);
  });

  it('checkpoint entries get the TTL', async () => {
    const c = cache({ ttlSeconds: 30 });
    const t = stack.unique('ttl');
    expect(await c.setCheckpoint(t, 'ns', cpId(1), at(1), Buffer.from([0, 1, 255]))).toBe(true);
    expect(await c.getCheckpoint(t, 'ns', cpId(1))).toEqual(Buffer.from([0, 1, 255]));
    const ttl = await stack.redis().ttl(c.keys.checkpoint(t, 'ns', cpId(1)));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30);
    expect(await stack.redis().ttl(c.keys.threadKeys(t))).toBeGreaterThan(30);
  });

  it('deleting a thread drops its keys only, and a lagging writer cannot re-cache it', async () => {
    const c = cache();
    const t = stack.unique('del') + ':}{';
    const other = stack.unique('keep');
    await c.advanceHead(t, '', { checkpointId: cpId(1), position: at(1) }, 'h');
    await c.advanceHead(t, 'sub', { checkpointId: cpId(1), position: at(2) }, 'h');
    await c.setCheckpoint(t, '', cpId(1), at(1), 'cp');
    await c.setCheckpoint(other, '', cpId(1), at(1), 'cp');
    expect(await c.deleteThread(t, at(5))).toBe(3);
    const left = await keysOf(stack.redisPrefix);
    expect(left.filter((k) => k.includes(c.keys.tag(t)))).toEqual([c.keys.tombstone(t)]);
    expect(await c.getCheckpoint(other, '', cpId(1))).toBeDefined();
    // lagging: events from before the delete are refused
    expect(await c.setCheckpoint(t, '', cpId(1), at(4), 'stale')).toBe(false);
    expect(await c.advanceHead(t, '', { checkpointId: cpId(9), position: at(5) }, 'stale')).toBe(false);
    // a reused thread id caches again
    expect(await c.advanceHead(t, '', { checkpointId: cpId(1), position: at(6) }, 'new')).toBe(true);
    expect(await c.setCheckpoint(t, '', cpId(1), at(6), 'new')).toBe(true);
    // an older delete does not lower the tombstone
    await c.deleteThread(t, at(3));
    expect(await c.setCheckpoint(t, '', cpId(2), at(4), 'stale')).toBe(false);
  });

  it('watermarks only advance, and each advance is announced', async () => {
    const c = cache();
    const topic = stack.unique('topic');
    const got: Watermark[] = [];
    const sub = await c.subscribeWatermarks(topic, (w) => got.push(w));
    try {
      expect(await c.publishWatermarks(topic, [{ partition: 0, offset: '10' }, { partition: 1, offset: '5' }])).toEqual([0, 1]);
      expect(await c.publishWatermarks(topic, [{ partition: 0, offset: '9' }, { partition: 1, offset: '6' }])).toEqual([1]);
      expect(await c.getWatermarks(topic)).toEqual(new Map([[0, '10'], [1, '6']]));
      await waitFor(() => got.length === 3, { what: 'three watermark messages' });
      expect(got).toEqual([{ partition: 0, offset: '10' }, { partition: 1, offset: '5' }, { partition: 1, offset: '6' }]);
    } finally {
      await sub.close();
      await sub.close();
    }
  });

  it('maps an unreachable Redis to a retriable redis-unavailable', async () => {
    const redis = new Redis({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined); // the refused connection itself; the call's error is what we check
    try {
      const e = await createRedisCache({ redis }).getHead('t', '').catch((err: unknown) => err);
      expect(isThreadlogError(e, 'redis-unavailable') && e.retriable).toBe(true);
    } finally {
      redis.disconnect();
    }
  });
});
