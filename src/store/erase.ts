/**
 * eraseThread: crypto-shredding one thread (docs/security.md). The steps, and why in this order:
 * 1. destroy the thread's data key in the key store — the commit point, one document replaced
 *    atomically. Before it the thread is fully readable; from it on every sealed byte of the
 *    thread (log, dead letters, projection, Redis, backups) is noise, and reads answer not
 *    found (store/sealed-projection.ts asks the key store, not the projection);
 * 2. append a `thread-erased` event, so the log says so (audit, timeline, rebuilds) and every
 *    projector removes the thread and never projects it again; its position is recorded
 *    beside the erasure mark, so a rerun does not append a second one;
 * 3. drop the thread from this store's memory, Redis and (announced on the invalidation
 *    channel) every other store's L1 and key cache;
 * 4. wait, bounded, for the projection to apply the event.
 * A crash after 1 leaves the thread erased for every reader; rerunning finishes 2–4.
 */
import type { ThreadKeys } from '../crypto/thread-keys.ts';
import { ThreadlogError, isThreadlogError } from '../errors.ts';
import { validateThreadId } from '../events/validate.ts';
import type { LogPosition } from '../events/types.ts';
import type { Logger } from '../logger.ts';
import type { RedisCache } from '../redis/cache.ts';
import type { RedisGuard } from './redis-guard.ts';
import type { EraseResult } from './types.ts';
import type { WatermarkWaiter } from './watermarks.ts';
import type { Writer } from './writer.ts';

export interface EraserDeps {
  keys: ThreadKeys | undefined;
  writer: Writer;
  /** the serving generation's layout, its Redis cache and watermarks (read at each call: a rebuild may switch them) */
  side(): { layout(): Promise<1 | 2>; cache: RedisCache | undefined; waiter: WatermarkWaiter };
  guard: RedisGuard;
  /** drop the thread from this process's memory (L1, own writes, delta bases, key cache) */
  forgetLocal(threadId: string, position: LogPosition | undefined): void;
  /** tell the other stores (their L1 and key caches) */
  announce(threadId: string, position: LogPosition): void;
  logger: Logger;
  timeoutMs: number;
}

export function createEraser(d: EraserDeps): (threadId: string, options?: { timeoutMs?: number }) => Promise<EraseResult> {
  const log = d.logger.child({ component: 'erasure' });
  return async (threadId, options = {}) => {
    const keys = d.keys;
    if (keys === undefined) {
      throw new ThreadlogError('encryption-disabled', `cannot erase thread ${JSON.stringify(threadId)}: encryption is off (the store option \`encryption\`; THREADLOG_MASTER_KEY_FILE or THREADLOG_MASTER_KEY for the CLI and projector). Without it the thread's events are plaintext in the Kafka log, which is never rewritten: nothing could erase them. deleteThread hides a thread from reads.`);
    }
    validateThreadId(threadId);
    const side = d.side();
    if ((await side.layout()) !== 2) {
      throw new ThreadlogError('unsupported-layout', `cannot erase thread ${JSON.stringify(threadId)}: the serving projection is layout 1, which would project the thread's later events again; move it to layout 2 first (threadlog rebuild, docs/rebuild-import.md)`);
    }
    log.info({ threadId }, 'erasure: destroying the data key');
    const r = await keys.erase(threadId);
    log.info({ threadId, before: r.before }, 'erasure: data key destroyed, logging the erasure');
    d.forgetLocal(threadId, undefined);
    let position = r.logged;
    if (position === undefined) {
      const receipt = await d.writer.eraseThread(threadId);
      position = { partition: receipt.partition, offset: receipt.offset };
      await keys.markLogged(threadId, position);
    }
    log.info({ threadId, partition: position.partition, offset: position.offset }, 'erasure: logged, clearing caches');
    d.forgetLocal(threadId, position);
    d.announce(threadId, position);
    const cache = side.cache;
    if (cache !== undefined) await d.guard.call('erasing a thread from Redis', () => cache.deleteThread(threadId, position));
    let projected = true;
    try {
      await side.waiter.waitFor(new Map([[position.partition, BigInt(position.offset)]]), options.timeoutMs ?? d.timeoutMs);
    } catch (e) {
      if (!isThreadlogError(e, 'stale-read') && !isThreadlogError(e, 'timeout')) throw e;
      projected = false;
    }
    log.info({ threadId, projected }, 'erasure: done');
    return { threadId, erasedAt: r.erasedAt, position, hadNoKey: r.before === 'none', alreadyErased: r.before === 'erased', projected };
  };
}
