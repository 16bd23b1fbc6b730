/**
 * Cache upkeep in Redis: heads advanced only by compare-and-set, checkpoint entries with a
 * TTL, per-thread deletion without KEYS/SCAN, and per-partition watermarks. The client is
 * the caller's (never closed here); a watermark subscription opens its own connection and
 * closes it. Redis down is an error the read path turns into a MongoDB read.
 */
import type { Redis } from 'ioredis';
import type { LogPosition } from '../events/types.ts';
import { ThreadlogError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { toPos } from '../projection/documents.ts';
import { createRedisKeys, type RedisKeys } from './keys.ts';
import { advanceHeadLua, advanceTombstoneLua, advanceWatermarkLua, setEntryLua } from './scripts.ts';

export interface RedisCacheOptions {
  redis: Redis;
  /** every key starts with it, e.g. `threadlog:`; no braces */
  prefix?: string;
  /** lifetime of heads and checkpoint entries */
  ttlSeconds?: number;
  /** how long a delete keeps lagging writers from re-caching the thread */
  tombstoneTtlSeconds?: number;
  logger?: Logger;
}

export const defaultRedisCacheOptions = { prefix: 'threadlog:', ttlSeconds: 3600, tombstoneTtlSeconds: 86_400, logger: silentLogger };

export interface CachedHead {
  checkpointId: string;
  position: LogPosition;
  payload: Buffer;
}

export interface Watermark {
  partition: number;
  offset: string;
}

export interface WatermarkSubscription {
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface RedisCache {
  readonly keys: RedisKeys;
  /** true if the head moved: (checkpointId, position) above the cached one, thread not deleted since */
  advanceHead(thread: string, ns: string, head: { checkpointId: string; position: LogPosition }, payload: Buffer | string): Promise<boolean>;
  getHead(thread: string, ns: string): Promise<CachedHead | undefined>;
  /** false when the thread was deleted at or after `position` */
  setCheckpoint(thread: string, ns: string, checkpointId: string, position: LogPosition, payload: Buffer | string): Promise<boolean>;
  getCheckpoint(thread: string, ns: string, checkpointId: string): Promise<Buffer | undefined>;
  /** drop the thread's keys and refuse older entries from now on; returns how many keys went */
  deleteThread(thread: string, position: LogPosition): Promise<number>;
  /** advance and announce; returns the partitions that moved */
  publishWatermarks(topic: string, watermarks: readonly Watermark[]): Promise<number[]>;
  getWatermarks(topic: string): Promise<Map<number, string>>;
  subscribeWatermarks(topic: string, onWatermark: (w: Watermark) => void): Promise<WatermarkSubscription>;
}

type Script = (...args: Array<string | Buffer | number>) => Promise<number>;
const scripts = { threadlogAdvanceHead: [advanceHeadLua, 3], threadlogSetEntry: [setEntryLua, 3], threadlogAdvanceTombstone: [advanceTombstoneLua, 1], threadlogAdvanceWatermark: [advanceWatermarkLua, 1] } as const;

/** Connection-level failures are retriable; a Redis reply error is a bug and stays as it is. */
async function redisCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Error && e.name === 'ReplyError') throw e;
    throw new ThreadlogError('redis-unavailable', `Redis unavailable during ${what}: ${e instanceof Error ? e.message : String(e)}`, { retriable: true, cause: e });
  }
}

export function createRedisCache(options: RedisCacheOptions): RedisCache {
  const { redis, prefix, ttlSeconds, tombstoneTtlSeconds, logger } = { ...defaultRedisCacheOptions, ...options };
  if (!(Number.isInteger(ttlSeconds) && ttlSeconds > 0 && Number.isInteger(tombstoneTtlSeconds) && tombstoneTtlSeconds > 0)) {
    throw new ThreadlogError('invalid-options', 'ttlSeconds and tombstoneTtlSeconds must be positive integers');
  }
  const keys = createRedisKeys(prefix);
  const log = logger.child({ component: 'redis-cache' });
  // EVALSHA with a fallback to EVAL; defining twice on a shared client is harmless
  for (const [name, [lua, numberOfKeys]] of Object.entries(scripts)) {
    if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys });
  }
  const run = (name: keyof typeof scripts): Script => (redis as unknown as Record<string, Script>)[name]!.bind(redis);
  const posArgs = (position: LogPosition): [number, number] => {
    const p = toPos(position);
    return [p.partition, p.offset];
  };

  return {
    keys,

    advanceHead: (thread, ns, head, payload) =>
      redisCall('advancing a head', async () =>
        (await run('threadlogAdvanceHead')(keys.head(thread, ns), keys.threadKeys(thread), keys.tombstone(thread), head.checkpointId, ...posArgs(head.position), payload, ttlSeconds)) === 1,
      ),

    getHead: (thread, ns) =>
      redisCall('reading a head', async () => {
        const [c, p, o, v] = await redis.hmgetBuffer(keys.head(thread, ns), 'c', 'p', 'o', 'v');
        if (!c || !p || !o || !v) return undefined;
        return { checkpointId: c.toString('utf8'), position: { partition: Number(p.toString()), offset: o.toString() }, payload: v };
      }),

    setCheckpoint: (thread, ns, checkpointId, position, payload) =>
      redisCall('caching a checkpoint', async () =>
        (await run('threadlogSetEntry')(keys.checkpoint(thread, ns, checkpointId), keys.threadKeys(thread), keys.tombstone(thread), ...posArgs(position), payload, ttlSeconds)) === 1,
      ),

    getCheckpoint: (thread, ns, checkpointId) =>
      redisCall('reading a checkpoint', async () => (await redis.getBuffer(keys.checkpoint(thread, ns, checkpointId))) ?? undefined),

    deleteThread: (thread, position) =>
      redisCall('deleting a thread', async () => {
        // Tombstone first: from here on a lagging writer's older entry is refused, so the
        // members listed next are all there is to delete.
        await run('threadlogAdvanceTombstone')(keys.tombstone(thread), ...posArgs(position), tombstoneTtlSeconds);
        const setKey = keys.threadKeys(thread);
        const members = await redis.smembers(setKey);
        if (members.length === 0) return 0;
        // SREM, not DEL of the set: an entry of a reused thread id added meanwhile stays tracked.
        const first = (await redis.multi().del(...members).srem(setKey, ...members).exec())?.[0];
        if (first?.[0]) throw first[0];
        const deleted = Number(first?.[1] ?? 0);
        log.debug({ thread, deleted }, 'thread evicted');
        return deleted;
      }),

    publishWatermarks: (topic, watermarks) =>
      redisCall('publishing watermarks', async () => {
        const script = run('threadlogAdvanceWatermark');
        const moved = await Promise.all(
          watermarks.map(async (w) => ((await script(keys.watermarks(topic), w.partition, posArgs(w)[1], keys.watermarkChannel(topic))) === 1 ? w.partition : -1)),
        );
        return moved.filter((p) => p >= 0);
      }),

    getWatermarks: (topic) =>
      redisCall('reading watermarks', async () => {
        const all = await redis.hgetall(keys.watermarks(topic));
        return new Map(Object.entries(all).map(([p, o]) => [Number(p), o]));
      }),

    subscribeWatermarks: (topic, onWatermark) =>
      redisCall('subscribing to watermarks', async () => {
        const sub = redis.duplicate();
        const channel = keys.watermarkChannel(topic);
        sub.on('message', (ch: string, message: string) => {
          const [p, o] = message.split(':');
          if (ch === channel && p !== undefined && o !== undefined) onWatermark({ partition: Number(p), offset: o });
        });
        sub.on('error', (e: unknown) => log.warn({ err: e }, 'watermark subscription error'));
        await sub.subscribe(channel);
        let closed: Promise<void> | undefined;
        const close = (): Promise<void> => (closed ??= sub.quit().then(() => undefined, () => sub.disconnect()));
        return { close, [Symbol.asyncDispose]: close };
      }),
  };
}
