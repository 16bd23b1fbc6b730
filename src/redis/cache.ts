/**
 * Cache upkeep in Redis: heads advanced only by compare-and-set, checkpoint entries with a
 * TTL, per-thread deletion without KEYS/SCAN, and per-partition watermarks. The client is
 * the caller's (never closed here); a watermark subscription opens its own connection and
 * closes it. Redis down is an error the read path turns into a MongoDB read.
 */
import type { LogPosition } from '../events/types.ts';
import { ThreadlogError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { toPos } from '../projection/documents.ts';
import { clusterModeError, dataNodes, isCluster, isRedirection, type RedisClient } from './client.ts';
import { createRedisKeys, type RedisKeys } from './keys.ts';
import { advanceHeadLua, advanceTombstoneLua, advanceWatermarkLua, setEntryLua } from './scripts.ts';

export interface RedisCacheOptions {
  /** a Redis or a Redis Cluster: every script and multi-key command stays on one slot */
  redis: RedisClient;
  /** every key starts with it, e.g. `threadlog:`; no braces */
  prefix?: string;
  /** lifetime of heads and checkpoint entries */
  ttlSeconds?: number;
  /** how long a delete keeps lagging writers from re-caching the thread */
  tombstoneTtlSeconds?: number;
  /**
   * syncReplicas(): replicas that must hold the writes before the projector claims them (WAIT).
   * Default: 1 on a Redis Cluster (a master killed right after a write would otherwise take
   * it along, and its promoted replica would serve an older head), 0 on a single Redis.
   */
  replicaAcks?: number;
  /** how long one WAIT may block; a master without a live replica is then skipped for a while */
  replicaWaitMs?: number;
  logger?: Logger;
}

export const defaultRedisCacheOptions = { prefix: 'threadlog:', ttlSeconds: 3600, tombstoneTtlSeconds: 86_400, replicaWaitMs: 200, logger: silentLogger };

/** after a WAIT that got fewer replicas than asked, that master is not waited on for this long */
const REPLICA_RETRY_MS = 10_000;

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
  /**
   * Resolves once every master has handed this client's earlier writes to `replicaAcks`
   * replicas (a no-op when 0). Rejects (retriable) when a master does not answer, so the
   * caller redoes its idempotent writes on the master that replaced it; a master that has no
   * live replica is logged and skipped for a while rather than stalling every batch.
   */
  syncReplicas(): Promise<void>;
}

type Script = (...args: Array<string | Buffer | number>) => Promise<number>;
const scripts = { threadlogAdvanceHead: [advanceHeadLua, 3], threadlogSetEntry: [setEntryLua, 3], threadlogAdvanceTombstone: [advanceTombstoneLua, 1], threadlogAdvanceWatermark: [advanceWatermarkLua, 1] } as const;

/**
 * Connection-level failures are retriable; a Redis reply error is a bug and stays as it is,
 * except MOVED/ASK on a plain client: that is a Redis Cluster node configured as one Redis.
 */
async function redisCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    // a Cluster client follows redirections itself: only a plain client ever sees one
    if (isRedirection(e)) throw clusterModeError(`the Redis server (it answered ${(e as Error).message.split(' ')[0]} during ${what})`);
    if (e instanceof Error && e.name === 'ReplyError') throw e;
    throw new ThreadlogError('redis-unavailable', `Redis unavailable during ${what}: ${e instanceof Error ? e.message : String(e)}`, { retriable: true, cause: e });
  }
}

export function createRedisCache(options: RedisCacheOptions): RedisCache {
  const { redis, prefix, ttlSeconds, tombstoneTtlSeconds, replicaWaitMs, logger } = { ...defaultRedisCacheOptions, ...options };
  const replicaAcks = options.replicaAcks ?? (isCluster(redis) ? 1 : 0);
  if (!(Number.isInteger(replicaAcks) && replicaAcks >= 0 && Number.isInteger(replicaWaitMs) && replicaWaitMs > 0)) {
    throw new ThreadlogError('invalid-options', 'replicaAcks must be an integer >= 0 and replicaWaitMs a positive integer');
  }
  if (!(Number.isInteger(ttlSeconds) && ttlSeconds > 0 && Number.isInteger(tombstoneTtlSeconds) && tombstoneTtlSeconds > 0)) {
    throw new ThreadlogError('invalid-options', 'ttlSeconds and tombstoneTtlSeconds must be positive integers');
  }
  const keys = createRedisKeys(prefix);
  const noReplicaUntil = new Map<string, number>();
  const log = logger.child({ component: 'redis-cache' });
  const syncReplicas = async (): Promise<void> => {
    if (replicaAcks === 0) return;
    await redisCall('waiting for Redis replicas', async () => {
      const now = Date.now();
      await Promise.all(
        dataNodes(redis).map(async (node) => {
          const where = `${node.options.host ?? '?'}:${node.options.port ?? '?'}`;
          if ((noReplicaUntil.get(where) ?? 0) > now) return;
          // WAIT counts this connection's writes only: the node connections the Cluster
          // client sent the scripts on are the ones in nodes('master')
          const acked = Number(await node.call('WAIT', replicaAcks, replicaWaitMs));
          if (acked >= replicaAcks) return;
          noReplicaUntil.set(where, Date.now() + REPLICA_RETRY_MS);
          log.warn({ node: where, acked, wanted: replicaAcks }, 'Redis master without a live replica: its cache writes would be lost with it (heads then re-advance from later batches and reads)');
        }),
      );
    });
  };
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
        // a watermark lost with its master would hold strong reads of an idle partition
        // until its next batch: replicated before the projector commits, like the heads
        if (moved.some((p) => p >= 0)) await syncReplicas();
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

    syncReplicas,
  };
}
