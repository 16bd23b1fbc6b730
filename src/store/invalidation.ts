/**
 * L1 holds checkpoints by id as immutable, which a thread deletion breaks: another store
 * instance would keep serving a deleted thread from memory. A store that deletes a thread
 * announces it on a Redis channel; every instance drops the thread from its L1 and keeps a
 * local tombstone (entries at or before the delete's position are dead). Best effort: with
 * Redis down the announcement is lost and other instances' L1 entries expire by eviction.
 */
import type { RedisClient } from '../redis/client.ts';
import type { LogPosition } from '../events/types.ts';
import type { Logger } from '../logger.ts';
import type { RedisGuard } from './redis-guard.ts';

export interface Invalidation {
  announce(threadId: string, position: LogPosition): void;
  close(): Promise<void>;
}

export function createInvalidation(
  redis: RedisClient | undefined,
  channel: string,
  guard: RedisGuard,
  logger: Logger,
  onDeleted: (threadId: string, position: LogPosition) => void,
): Invalidation {
  if (redis === undefined) return { announce: () => undefined, close: async () => undefined };
  const sub = redis.duplicate();
  sub.on('error', (err: unknown) => logger.debug({ err }, 'invalidation subscription error'));
  sub.on('message', (ch: string, message: string) => {
    if (ch !== channel) return;
    try {
      const [t, p, o] = JSON.parse(message) as [string, number, string];
      if (typeof t === 'string' && Number.isInteger(p) && /^\d+$/.test(o)) onDeleted(t, { partition: p, offset: o });
    } catch {
      logger.warn({ channel }, 'ignored a malformed invalidation message');
    }
  });
  // ioredis re-subscribes after reconnecting; a failure here only means no announcements
  const subscribed = sub.subscribe(channel).catch((err: unknown) => logger.warn({ err }, 'invalidation channel unavailable'));
  const pending = new Set<Promise<unknown>>();
  return {
    announce(threadId, position) {
      const p = guard.call('announcing a deletion', () => redis.publish(channel, JSON.stringify([threadId, position.partition, position.offset])));
      pending.add(p);
      void p.finally(() => pending.delete(p));
    },
    async close() {
      await Promise.allSettled([...pending]);
      await subscribed;
      await sub.quit().catch(() => sub.disconnect());
    },
  };
}
