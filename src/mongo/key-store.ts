/**
 * `threadlog_keys`: the wrapped data keys of encrypted threads (src/crypto/thread-keys.ts),
 * one document per thread, `_id` = thread id. No projection generation owns it: a rebuild
 * never reads, drops or recreates it (projectors need no keys; sealed values go to the
 * projection as they are). Losing it loses every encrypted thread, so back it up — and know
 * that a backup keeps erased threads' wrapped keys (docs/security.md).
 *
 *   { _id, state: 'active', wrapped: Binary, masterKeyId, createdAt }
 *   { _id, state: 'erased', erasedAt, logged?: { partition, offset } }
 *
 * An erasure replaces the document: the wrapped key is gone from the live document at once;
 * the storage engine may keep the old version on disk until it reclaims it (PostgreSQL under
 * FerretDB: until VACUUM; WiredTiger: until the pages are reused) — useless without the
 * master key, which is why rotating the master key after erasures completes them.
 */
import { Binary, type Db, type Document } from 'mongodb';
import type { KeyStore, StoredKey } from '../crypto/thread-keys.ts';
import { mongoCall } from './errors.ts';

export const KEYS_COLLECTION = 'threadlog_keys';

interface KeyDoc {
  _id: string;
  state: 'active' | 'erased';
  wrapped?: Binary;
  masterKeyId?: string;
  createdAt?: number;
  erasedAt?: number;
  logged?: { partition: number; offset: string };
}

const bytes = (b: Binary): Uint8Array => {
  const v = b.buffer.subarray(0, b.position);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
};

function toStored(d: Document | null): StoredKey | undefined {
  if (d === null) return undefined;
  const k = d as KeyDoc;
  if (k.state === 'erased') return { threadId: k._id, state: 'erased', erasedAt: k.erasedAt ?? 0, ...(k.logged ? { logged: { partition: k.logged.partition, offset: k.logged.offset } } : {}) };
  return { threadId: k._id, state: 'active', wrapped: bytes(k.wrapped!), masterKeyId: k.masterKeyId!, createdAt: k.createdAt ?? 0 };
}

const isDuplicateKey = (e: unknown): boolean => (e as { cause?: { code?: number } }).cause?.code === 11000 || (e as { code?: number }).code === 11000;

export function createMongoKeyStore(db: Db, collection = KEYS_COLLECTION): KeyStore {
  const col = db.collection<KeyDoc>(collection);
  const get = async (threadId: string): Promise<StoredKey | undefined> => toStored(await mongoCall('reading a thread key', () => col.findOne({ _id: threadId })));
  return {
    get,
    async create(key) {
      try {
        await mongoCall('storing a thread key', () => col.insertOne({ _id: key.threadId, state: 'active', wrapped: new Binary(Buffer.from(key.wrapped)), masterKeyId: key.masterKeyId, createdAt: key.createdAt }));
        return key;
      } catch (e) {
        // another process made the thread's key first (or erased it): theirs stands
        if (!isDuplicateKey(e)) throw e;
        const stored = await get(key.threadId);
        if (stored === undefined) throw e;
        return stored;
      }
    },
    async erase(threadId, at) {
      const before = await get(threadId);
      if (before?.state === 'erased') return before;
      // a replacement, not an update: nothing of the wrapped key stays in the live document
      await mongoCall('erasing a thread key', () => col.replaceOne({ _id: threadId }, { state: 'erased', erasedAt: at }, { upsert: true }));
      return before;
    },
    async markLogged(threadId, position) {
      await mongoCall('recording an erasure', () => col.updateOne({ _id: threadId, state: 'erased' }, { $set: { logged: { partition: position.partition, offset: position.offset } } }));
    },
    async rewrap(threadId, from, to) {
      const r = await mongoCall('re-wrapping a thread key', () =>
        col.updateOne({ _id: threadId, state: 'active', masterKeyId: from.masterKeyId }, { $set: { wrapped: new Binary(Buffer.from(to.wrapped)), masterKeyId: to.masterKeyId } }),
      );
      return r.modifiedCount === 1;
    },
    async notWrappedBy(masterKeyId, after, limit) {
      const docs = await mongoCall('listing thread keys', () =>
        col.find({ state: 'active', masterKeyId: { $ne: masterKeyId }, ...(after === undefined ? {} : { _id: { $gt: after } }) }).sort({ _id: 1 }).limit(limit).toArray(),
      );
      return docs.map((d) => toStored(d) as Extract<StoredKey, { state: 'active' }>);
    },
    async unlogged(limit) {
      const docs = await mongoCall('listing erasures', () => col.find({ state: 'erased', logged: { $exists: false } }).sort({ _id: 1 }).limit(limit).toArray());
      return docs.map((d) => toStored(d) as Extract<StoredKey, { state: 'erased' }>);
    },
  };
}
