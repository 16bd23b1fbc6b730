/**
 * Per-thread data keys: created on a thread's first encrypted save, kept wrapped by a master
 * key in a key store outside the log (src/mongo/key-store.ts: a collection no projection
 * generation owns), unwrapped on use and cached in process with a bound (entries, and a TTL
 * so an erasure another process missed still lands here within it). Destroying a thread's
 * key is its erasure: every sealed byte of it, in the log or anywhere else, is then noise.
 */
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { ThreadlogError } from '../errors.ts';
import type { LogPosition } from '../events/types.ts';
import type { KeyProvider } from './key-provider.ts';

export type StoredKey =
  | { threadId: string; state: 'active'; wrapped: Uint8Array; masterKeyId: string; createdAt: number }
  | { threadId: string; state: 'erased'; erasedAt: number; logged?: LogPosition };

/** Where wrapped keys live (the port; src/mongo/key-store.ts is the MongoDB adapter). */
export interface KeyStore {
  get(threadId: string): Promise<StoredKey | undefined>;
  /** inserts the key unless the thread has one (or was erased); returns what is stored now */
  create(key: Extract<StoredKey, { state: 'active' }>): Promise<StoredKey>;
  /** replaces the thread's key (if any) by an erasure mark; returns what was there */
  erase(threadId: string, at: number): Promise<StoredKey | undefined>;
  /** the erasure's thread-erased event is in the log at `position` */
  markLogged(threadId: string, position: LogPosition): Promise<void>;
  /** re-wraps one key if it is still wrapped as `from` says; false if it changed meanwhile */
  rewrap(threadId: string, from: { masterKeyId: string }, to: { masterKeyId: string; wrapped: Uint8Array }): Promise<boolean>;
  /** active keys not wrapped by `masterKeyId`, by thread id, after `after` */
  notWrappedBy(masterKeyId: string, after: string | undefined, limit: number): Promise<Array<Extract<StoredKey, { state: 'active' }>>>;
  /** erasures not yet logged (a crash between destroying the key and appending the event) */
  unlogged(limit: number): Promise<Array<Extract<StoredKey, { state: 'erased' }>>>;
}

export type ReadKey = { state: 'key'; key: KeyObject } | { state: 'erased'; erasedAt: number; logged?: LogPosition } | { state: 'none' };

export interface ThreadKeysOptions {
  store: KeyStore;
  /** wraps new keys and unwraps those it wrapped */
  provider: KeyProvider;
  /** older master keys, for keys a rotation has not re-wrapped yet */
  previous?: readonly KeyProvider[];
  /** threads whose key state is cached */
  cacheMax?: number;
  cacheTtlMs?: number;
}

export const defaultThreadKeysOptions = { cacheMax: 10_000, cacheTtlMs: 60_000 };

export interface ThreadKeys {
  readonly keyId: string;
  /** the key to seal a thread's new events with, created on first use; an erased thread refuses ('thread-erased') */
  forWrite(threadId: string): Promise<KeyObject>;
  /**
   * The key to open a thread's sealed data with, or why there is none: erased, or none ever
   * made (the thread was written without encryption). `fresh`: skip a cached "none" (the
   * caller holds sealed data, so a key was made since).
   */
  forRead(threadId: string, options?: { fresh?: boolean }): Promise<ReadKey>;
  /** destroys the thread's key (the erasure's commit point); returns what it was */
  erase(threadId: string): Promise<{ before: 'active' | 'erased' | 'none'; erasedAt: number; logged?: LogPosition }>;
  markLogged(threadId: string, position: LogPosition): Promise<void>;
  /** drop what is cached of a thread (another process may have erased it) */
  forget(threadId: string): void;
  readonly cached: number;
}

export function createThreadKeys(options: ThreadKeysOptions): ThreadKeys {
  const o = { ...defaultThreadKeysOptions, ...options };
  if (!(Number.isInteger(o.cacheMax) && o.cacheMax > 0) || !(Number.isInteger(o.cacheTtlMs) && o.cacheTtlMs > 0)) {
    throw new ThreadlogError('invalid-options', 'encryption: keyCacheMax and keyCacheTtlMs must be positive integers');
  }
  const providers = new Map<string, KeyProvider>();
  for (const p of [o.provider, ...(o.previous ?? [])]) if (!providers.has(p.keyId)) providers.set(p.keyId, p);
  const cache = new LRUCache<string, ReadKey>({ max: o.cacheMax, ttl: o.cacheTtlMs });
  const loading = new Map<string, Promise<ReadKey>>();

  async function unwrap(k: Extract<StoredKey, { state: 'active' }>): Promise<KeyObject> {
    const p = providers.get(k.masterKeyId);
    if (p === undefined) {
      throw new ThreadlogError('wrong-master-key', `the data key of thread ${JSON.stringify(k.threadId)} is wrapped by master key ${k.masterKeyId}; this process has ${[...providers.keys()].join(', ')}: configure that master key (as the current or a previous one), or finish the rotation (threadlog keys rotate)`, {
        details: { threadId: k.threadId, masterKeyId: k.masterKeyId },
      });
    }
    const raw = Buffer.from(await p.unwrap(k.wrapped, { threadId: k.threadId }));
    if (raw.length !== 32) throw new ThreadlogError('wrong-master-key', `the data key of thread ${JSON.stringify(k.threadId)} unwraps to ${raw.length} bytes, not 32`);
    const key = createSecretKey(raw);
    raw.fill(0);
    return key;
  }

  async function toReadKey(k: StoredKey | undefined): Promise<ReadKey> {
    if (k === undefined) return { state: 'none' };
    if (k.state === 'erased') return { state: 'erased', erasedAt: k.erasedAt, ...(k.logged ? { logged: k.logged } : {}) };
    return { state: 'key', key: await unwrap(k) };
  }

  /** one load (and one creation) per thread at a time: a burst of saves to a new thread makes one key */
  function once(pending: Map<string, Promise<ReadKey>>, threadId: string, make: () => Promise<ReadKey>): Promise<ReadKey> {
    let p = pending.get(threadId);
    if (p === undefined) {
      const mine = make().then((r) => {
        cache.set(threadId, r);
        return r;
      });
      pending.set(threadId, mine);
      const done = (): void => {
        if (pending.get(threadId) === mine) pending.delete(threadId);
      };
      mine.then(done, done);
      p = mine;
    }
    return p;
  }
  const creating = new Map<string, Promise<ReadKey>>();
  const load = (threadId: string, make: () => Promise<ReadKey>): Promise<ReadKey> => once(loading, threadId, make);
  const create = (threadId: string, make: () => Promise<ReadKey>): Promise<ReadKey> => once(creating, threadId, make);

  async function forRead(threadId: string, { fresh = false } = {}): Promise<ReadKey> {
    const c = cache.get(threadId);
    if (c !== undefined && !(fresh && c.state === 'none')) return c;
    return load(threadId, async () => toReadKey(await o.store.get(threadId)));
  }

  function erasedError(threadId: string, r: Extract<ReadKey, { state: 'erased' }>): ThreadlogError {
    return new ThreadlogError('thread-erased', `thread ${JSON.stringify(threadId)} was erased at ${new Date(r.erasedAt).toISOString()}: its key is destroyed and it takes no new events (use a new thread id)`, {
      details: { threadId, erasedAt: r.erasedAt },
    });
  }

  return {
    keyId: o.provider.keyId,
    forRead,
    async forWrite(threadId) {
      let r = await forRead(threadId);
      if (r.state === 'none') {
        r = await create(threadId, async () => {
          const raw = randomBytes(32);
          const wrapped = await o.provider.wrap(raw, { threadId });
          raw.fill(0);
          return toReadKey(await o.store.create({ threadId, state: 'active', wrapped, masterKeyId: o.provider.keyId, createdAt: Date.now() }));
        });
      }
      if (r.state === 'erased') throw erasedError(threadId, r);
      if (r.state !== 'key') throw new ThreadlogError('invalid-options', `no data key could be made for thread ${JSON.stringify(threadId)}`);
      return r.key;
    },
    async erase(threadId) {
      cache.delete(threadId);
      const before = await o.store.erase(threadId, Date.now());
      cache.delete(threadId);
      const now = await o.store.get(threadId);
      if (now?.state !== 'erased') throw new ThreadlogError('mongo-unavailable', `the erasure of thread ${JSON.stringify(threadId)} was not recorded in the key store; run it again`, { retriable: true });
      return { before: before === undefined ? 'none' : before.state, erasedAt: now.erasedAt, ...(now.logged ? { logged: now.logged } : {}) };
    },
    async markLogged(threadId, position) {
      await o.store.markLogged(threadId, position);
      cache.delete(threadId);
    },
    forget(threadId) {
      cache.delete(threadId);
    },
    get cached() {
      return cache.size;
    },
  };
}
