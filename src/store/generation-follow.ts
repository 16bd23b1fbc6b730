/**
 * A store that is not pinned to a generation follows the "current generation" pointer
 * (threadlog_meta, moved by `threadlog rebuild --switch`): it learns of a switch from the
 * Redis notice at once, and from a periodic re-read of the pointer when a notice was missed
 * or Redis is down. The pointer in MongoDB is the truth; the notice only says "look now".
 */
import type { RedisClient } from '../redis/client.ts';
import type { Logger } from '../logger.ts';
import { generationRedisPrefix, servingGeneration, type MetaStore } from '../mongo/meta.ts';
import { subscribeGenerationSwitch, type GenerationSubscription } from '../redis/generation.ts';

export interface ServedGeneration {
  generation: string;
  /** Redis prefix of that generation's heads, entries and watermarks */
  redisPrefix: string;
}

export interface GenerationFollowOptions {
  meta: MetaStore;
  redis: RedisClient | undefined;
  basePrefix: string;
  current: ServedGeneration;
  pollMs: number;
  logger: Logger;
  onSwitch(next: ServedGeneration): Promise<void>;
}

export interface GenerationFollow {
  /** re-read the pointer now (the notice handler and the poll call this) */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** The generation to read at start: the pointer (when not pinned), with its Redis prefix. */
export async function resolveServedGeneration(meta: MetaStore, configured: string, basePrefix: string, pinned: boolean): Promise<ServedGeneration> {
  const generation = pinned ? configured : await servingGeneration(meta, configured);
  return { generation, redisPrefix: await generationRedisPrefix(meta, basePrefix, generation) };
}

export async function followGeneration(o: GenerationFollowOptions): Promise<GenerationFollow> {
  let current = o.current;
  let running: Promise<void> | undefined;
  let closed = false;

  async function checkOnce(): Promise<void> {
    const next = await resolveServedGeneration(o.meta, current.generation, o.basePrefix, false);
    if (closed || next.generation === current.generation) return;
    o.logger.info({ from: current.generation, to: next.generation }, 'following the generation switch');
    current = next;
    await o.onSwitch(next);
  }
  // one check at a time: a notice and the poll arriving together switch once
  const check = (): Promise<void> =>
    (running ??= checkOnce()
      .catch((err: unknown) => o.logger.warn({ err }, 'cannot read the generation pointer; keeping the current generation'))
      .finally(() => (running = undefined)));

  let sub: GenerationSubscription | undefined;
  if (o.redis !== undefined) {
    sub = await subscribeGenerationSwitch(o.redis, o.basePrefix, () => void check()).catch((err: unknown) => {
      o.logger.warn({ err }, 'no generation-switch notices (Redis down?): polling the pointer only');
      return undefined;
    });
  }
  const timer = setInterval(() => void check(), o.pollMs);
  timer.unref();
  return {
    check,
    async close() {
      closed = true;
      clearInterval(timer);
      await sub?.close();
      await running;
    },
  };
}
