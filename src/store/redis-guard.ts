/**
 * Redis is a cache: when it is down, reads must go to MongoDB quickly instead of queueing
 * behind ioredis' reconnects. Every call gets a deadline, and after a failure the store
 * stops asking Redis for `cooldownMs` (a circuit breaker), then tries again.
 */
import { isThreadlogError } from '../errors.ts';
import type { Logger } from '../logger.ts';

export interface RedisGuard {
  /** runs `fn` unless the breaker is open; undefined when Redis is unavailable */
  call<T>(what: string, fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }>;
  readonly degraded: boolean;
  /** how many calls failed or were skipped */
  readonly failures: number;
}

export interface RedisGuardOptions {
  enabled: boolean;
  timeoutMs: number;
  cooldownMs: number;
  logger: Logger;
  onDegraded(what: string): void;
}

export function createRedisGuard(o: RedisGuardOptions): RedisGuard {
  let openUntil = 0;
  let degraded = !o.enabled;
  let failures = 0;
  let warned = false;

  function fail(what: string, err: unknown): void {
    failures++;
    openUntil = Date.now() + o.cooldownMs;
    degraded = true;
    o.onDegraded(what);
    // one warning per outage, not one per read
    if (!warned) {
      warned = true;
      o.logger.warn({ err, what }, 'Redis unavailable: reading from MongoDB');
    }
  }

  return {
    async call(what, fn) {
      if (!o.enabled) return { ok: false };
      if (Date.now() < openUntil) {
        o.onDegraded(what);
        return { ok: false };
      }
      let timer: NodeJS.Timeout | undefined;
      try {
        const deadline = new Promise<never>((_, reject) => {
          // A timer that fires late because the event loop was busy (a CPU-bound agent
          // process) runs before that turn's socket reads: the answer may be waiting
          // unread. Deciding after the poll phase (setImmediate) lets it arrive first, so a
          // busy client does not take Redis for down and send its reads to MongoDB.
          timer = setTimeout(() => setImmediate(() => reject(new Error(`Redis call took longer than ${o.timeoutMs} ms`))), o.timeoutMs);
        });
        const value = await Promise.race([fn(), deadline]);
        if (degraded) {
          degraded = false;
          warned = false;
          o.logger.info({ what }, 'Redis available again');
        }
        return { ok: true, value };
      } catch (e) {
        // a Redis reply error is a bug (wrong script, wrong type), not an outage
        if (e instanceof Error && e.name === 'ReplyError' && !isThreadlogError(e)) throw e;
        fail(what, e);
        return { ok: false };
      } finally {
        clearTimeout(timer);
      }
    },
    get degraded() {
      return degraded;
    },
    get failures() {
      return failures;
    },
  };
}
