/**
 * Redis as an encrypting store uses it: a cache entry of a thread with a data key (values,
 * pending writes and metadata in the clear, as L1 holds them) goes to Redis sealed as a whole
 * with that key, and comes back opened; an erased thread's entries are neither written nor
 * read. Redis thus holds nothing of an encrypted thread in the clear (heads the projector
 * writes carry only ids, versions and positions: its events were sealed when written).
 *
 *   sealed entry = "TLX1" | sealed bytes (crypto/seal.ts, purpose "entry")
 */
import { openBytes, sealBytes } from '../crypto/seal.ts';
import type { ThreadKeys } from '../crypto/thread-keys.ts';
import { isThreadlogError } from '../errors.ts';
import type { RedisCache } from '../redis/cache.ts';

const MAGIC = Buffer.from('TLX1');

export function createSealedCache(inner: RedisCache, keys: ThreadKeys): RedisCache {
  /** the payload as Redis should hold it; undefined: the thread is erased, cache nothing */
  async function seal(thread: string, payload: Buffer | string): Promise<Buffer | string | undefined> {
    const r = await keys.forRead(thread);
    if (r.state === 'erased') return undefined;
    if (r.state === 'none') return payload;
    const plain = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    return Buffer.concat([MAGIC, sealBytes(r.key, thread, 'entry', plain)]);
  }

  /** the payload as the reader wants it; undefined: unusable (erased, no key, or not ours) — a miss */
  async function open(thread: string, payload: Buffer): Promise<Buffer | undefined> {
    if (payload.length < MAGIC.length || !payload.subarray(0, MAGIC.length).equals(MAGIC)) {
      const r = await keys.forRead(thread);
      return r.state === 'erased' ? undefined : payload;
    }
    const r = await keys.forRead(thread);
    if (r.state !== 'key') return undefined;
    try {
      return openBytes(r.key, thread, 'entry', payload.subarray(MAGIC.length));
    } catch (e) {
      // a cache entry that does not open is a miss (MongoDB has the truth), never wrong data
      if (isThreadlogError(e, 'corrupt-event')) return undefined;
      throw e;
    }
  }

  return {
    ...inner,
    async advanceHead(thread, ns, head, payload) {
      const p = await seal(thread, payload);
      return p === undefined ? false : inner.advanceHead(thread, ns, head, p);
    },
    async getHead(thread, ns) {
      const h = await inner.getHead(thread, ns);
      if (h === undefined) return undefined;
      const payload = await open(thread, h.payload);
      return payload === undefined ? undefined : { ...h, payload };
    },
    async setCheckpoint(thread, ns, checkpointId, position, payload) {
      const p = await seal(thread, payload);
      return p === undefined ? false : inner.setCheckpoint(thread, ns, checkpointId, position, p);
    },
    async getCheckpoint(thread, ns, checkpointId) {
      const b = await inner.getCheckpoint(thread, ns, checkpointId);
      return b === undefined ? undefined : open(thread, b);
    },
  };
}
