/**
 * Waiting for the projection to reach an offset. The projector publishes, per partition,
 * the highest offset it fully applied (src/redis). A waiting read listens on Redis pub/sub
 * and re-reads the watermark key only slowly, in case a message was missed; with Redis down
 * it polls the applied offsets MongoDB keeps. A wait is bounded: past the deadline it throws
 * 'stale-read' (retriable), never hands back an answer older than asked for.
 */
import { ThreadlogError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ProjectionStore } from '../mongo/projection-store.ts';
import type { RedisCache, WatermarkSubscription } from '../redis/cache.ts';
import type { RedisGuard } from './redis-guard.ts';
import { NONE } from './session.ts';

export interface WatermarkWaiterOptions {
  topic: string;
  cache: RedisCache | undefined;
  guard: RedisGuard;
  projection: ProjectionStore;
  logger: Logger;
  /** re-read of the watermark key while subscribed (covers missed messages) */
  slowPollMs: number;
  /** poll of MongoDB's applied offsets while Redis is unavailable */
  mongoPollMs: number;
}

export interface WatermarkWaiter {
  /** resolves when every partition's watermark is >= its required offset */
  waitFor(required: ReadonlyMap<number, bigint>, timeoutMs: number): Promise<void>;
  /** keep `known` current from Redis pub/sub, for reads that do not wait (never rejects) */
  watch(): Promise<void>;
  /** the highest watermark seen for a partition (NONE if none) */
  known(partition: number): bigint;
  /**
   * fresh watermarks: Redis, else MongoDB's applied offsets; MongoDB's too when Redis has none
   * for one of the partitions in `need` (Redis lost it: a restart, a flush, an eviction)
   */
  refresh(need?: Iterable<number>): Promise<Map<number, bigint>>;
  close(): Promise<void>;
}

export function createWatermarkWaiter(o: WatermarkWaiterOptions): WatermarkWaiter {
  const known = new Map<number, bigint>();
  const listeners = new Set<() => void>();
  let subscription: WatermarkSubscription | undefined;
  let subscribing: Promise<void> | undefined;
  let nextSubscribeAttempt = 0;
  let closed = false;

  function learn(partition: number, offset: bigint): void {
    const cur = known.get(partition) ?? NONE;
    if (offset <= cur) return;
    known.set(partition, offset);
    for (const l of [...listeners]) l();
  }

  function ensureSubscribed(): Promise<void> {
    const cache = o.cache;
    if (cache === undefined || subscription !== undefined || closed || Date.now() < nextSubscribeAttempt) return Promise.resolve();
    subscribing ??= (async () => {
      const r = await o.guard.call('subscribing to watermarks', () =>
        cache.subscribeWatermarks(o.topic, (w) => learn(w.partition, BigInt(w.offset))),
      );
      if (r.ok) {
        if (closed) await r.value.close();
        else subscription = r.value;
      } else nextSubscribeAttempt = Date.now() + 1000;
    })().finally(() => (subscribing = undefined));
    return subscribing;
  }

  async function refresh(need: Iterable<number> = []): Promise<Map<number, bigint>> {
    const cache = o.cache;
    const fromRedis = cache === undefined ? { ok: false as const } : await o.guard.call('reading watermarks', () => cache.getWatermarks(o.topic));
    const fresh = new Map<number, bigint>();
    const take = (offsets: Map<number, string>): void => {
      for (const [p, off] of offsets) if (BigInt(off) > (fresh.get(p) ?? NONE)) fresh.set(p, BigInt(off));
    };
    if (fromRedis.ok) take(fromRedis.value);
    // A watermark Redis lost comes back only with the projector's next batch on its partition:
    // an idle one would hold its reads until they time out. MongoDB keeps the applied offsets.
    if (!fromRedis.ok || [...need].some((p) => !fresh.has(p))) take(await o.projection.getAppliedOffsets(o.topic));
    for (const [p, off] of fresh) learn(p, off);
    return fresh;
  }

  const behind = (required: ReadonlyMap<number, bigint>): boolean => {
    for (const [p, off] of required) if ((known.get(p) ?? NONE) < off) return true;
    return false;
  };

  /** true when a watermark moved, false when `ms` passed */
  const signal = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const done = (v: boolean): void => {
        clearTimeout(timer);
        listeners.delete(onMove);
        resolve(v);
      };
      const onMove = (): void => done(true);
      const timer = setTimeout(() => done(false), ms);
      listeners.add(onMove);
    });

  return {
    async waitFor(required, timeoutMs) {
      if (!behind(required)) return;
      const deadline = Date.now() + timeoutMs;
      await ensureSubscribed();
      await refresh(required.keys());
      while (behind(required)) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          const lagging = [...required].filter(([p, off]) => (known.get(p) ?? NONE) < off);
          throw new ThreadlogError('stale-read', `the projection did not reach the required log position within ${timeoutMs} ms`, {
            retriable: true,
            details: { waitedFor: Object.fromEntries(lagging.map(([p, off]) => [p, { required: String(off), projected: String(known.get(p) ?? NONE) }])) },
          });
        }
        const live = subscription !== undefined && !o.guard.degraded;
        const moved = await signal(Math.min(remaining, live ? o.slowPollMs : o.mongoPollMs));
        if (!moved) {
          await ensureSubscribed();
          await refresh(required.keys());
        }
      }
    },
    watch: ensureSubscribed,
    known: (p) => known.get(p) ?? NONE,
    refresh,
    async close() {
      closed = true;
      await subscribing;
      await subscription?.close();
      subscription = undefined;
    },
  };
}

