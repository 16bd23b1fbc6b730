/**
 * Redis loses the projector's watermarks (a restart without persistence, a flush, an eviction)
 * while a partition is idle: the projector publishes a partition's watermark only with its next
 * batch there, so a reader must not take "no watermark in Redis" for "nothing projected". A
 * strong read answers (from MongoDB's applied offsets) instead of timing out with 'stale-read',
 * and health reports no lag that is not there.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createRedisKeys } from '../../src/redis/keys.ts';
import type { CheckpointStore } from '../../src/index.ts';
import { useIsolatedStack } from '../support/isolation.ts';
import { checkpoint, openStore, startProjector } from './helpers.ts';

const stack = useIsolatedStack();
let writer: CheckpointStore;

beforeAll(async () => {
  writer = await openStore(stack);
  await startProjector(stack);
});

describe('watermarks lost from Redis', () => {
  it('a strong read of an idle partition answers, and health shows no lag', async () => {
    const threads = [stack.unique('idle-a'), stack.unique('idle-b'), stack.unique('idle-c')];
    const saved = new Map<string, string>();
    for (const [i, t] of threads.entries()) {
      const cp = checkpoint({ n: i }, i + 1);
      await writer.save({ threadId: t, checkpoint: cp });
      saved.set(t, cp.id);
    }
    for (const t of threads) expect((await writer.load({ threadId: t }, { consistency: 'strong' }))?.checkpointId).toBe(saved.get(t));

    // everything under the store's prefix goes, as in a Redis restart: watermarks and heads
    const redis = stack.redis();
    const keys = await redis.keys(`${stack.redisPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    expect(await redis.hgetall(createRedisKeys(stack.redisPrefix).watermarks(`${stack.topicPrefix}.checkpoints`))).toEqual({});

    // a store that never saw a watermark (a restarted reader)
    const reader = await openStore(stack);
    for (const t of threads) {
      const got = await reader.load({ threadId: t }, { consistency: 'strong', timeoutMs: 3_000 });
      expect(got?.checkpointId).toBe(saved.get(t));
    }
    const health = await reader.health();
    expect(Object.values(health.lag).every((l) => l === 0), JSON.stringify(health.lag)).toBe(true);
    expect(health.reasons.filter((r) => r.includes('lag'))).toEqual([]);
  });
});
