/**
 * The projection as an encrypting store reads it. MongoDB holds encrypted threads only as the
 * log carried them — values, pending writes, metadata sealed with the thread's data key — so
 * this wrapper opens what comes out (the key from the bounded in-process cache), and answers
 * "nothing" for an erased thread, at every call: reads of it are not-found whatever the
 * projector has applied yet. Everything else passes through.
 */
import type { KeyObject } from 'node:crypto';
import { ThreadlogError } from '../errors.ts';
import { openChannelValue, openFields, openValue } from '../crypto/seal.ts';
import type { ThreadKeys } from '../crypto/thread-keys.ts';
import { isSealedValue, type CheckpointHeader } from '../events/types.ts';
import type { ListOptions, ProjectionStore } from '../mongo/projection-store.ts';
import type { CheckpointRecord, WriteRecord } from '../mongo/records.ts';
import { listMatchingOrSealed } from '../mongo/sealed-listing.ts';
import { matchesFilter } from './filter.ts';

/** Opens sealed records, values and writes of a thread; knows erased threads. */
export interface Opener {
  /** undefined: the thread is erased (its data reads as absent) */
  key(threadId: string, sealed: boolean): Promise<KeyObject | null | undefined>;
  records(recs: readonly CheckpointRecord[]): Promise<CheckpointRecord[]>;
}

export function createOpener(keys: ThreadKeys): Opener {
  /** the key; null when none is needed (nothing sealed, no key); undefined when erased */
  async function key(threadId: string, sealed: boolean): Promise<KeyObject | null | undefined> {
    let r = await keys.forRead(threadId);
    if (r.state === 'none' && sealed) r = await keys.forRead(threadId, { fresh: true });
    if (r.state === 'erased') return undefined;
    if (r.state === 'key') return r.key;
    if (sealed) {
      throw new ThreadlogError('missing-thread-key', `thread ${JSON.stringify(threadId)} holds encrypted data but the key store has no key for it: is this the database its keys were made in (the threadlog_keys collection)?`, { details: { threadId } });
    }
    return null;
  }

  function openRecord(rec: CheckpointRecord, k: KeyObject | null): CheckpointRecord {
    if (rec.sealed === undefined || k === null) return rec;
    const { sealed, ...rest } = rec;
    const fields = openFields(k, rec.threadId, sealed);
    return { ...rest, metadata: fields.metadata, checkpoint: { ...fields.checkpoint, ...rec.checkpoint } as CheckpointHeader };
  }

  return {
    key,
    async records(recs) {
      const threads = [...new Set(recs.map((r) => r.threadId))];
      const sealedThreads = new Set(recs.filter((r) => r.sealed !== undefined).map((r) => r.threadId));
      const ks = new Map(await Promise.all(threads.map(async (t) => [t, await key(t, sealedThreads.has(t))] as const)));
      return recs.flatMap((r) => {
        const k = ks.get(r.threadId);
        return k === undefined ? [] : [openRecord(r, k)];
      });
    },
  };
}

const sealedWrite = (w: WriteRecord): boolean => isSealedValue(w.value);

export function createSealedProjection(inner: ProjectionStore, keys: ThreadKeys): ProjectionStore & { opener: Opener } {
  const opener = createOpener(keys);
  const one = async (rec: CheckpointRecord | undefined): Promise<CheckpointRecord | undefined> => (rec === undefined ? undefined : (await opener.records([rec]))[0]);
  const openWrites = async (threadId: string, ws: WriteRecord[]): Promise<WriteRecord[] | undefined> => {
    const k = await opener.key(threadId, ws.some(sealedWrite));
    if (k === undefined) return undefined;
    return k === null ? ws : ws.map((w) => ({ ...w, value: openValue(k, threadId, w.value) }));
  };

  /**
   * A page of `limit` readable records (or fewer only when the projection has no more): the
   * listing pages on by the last id and stops at a short page, so records dropped here
   * (erased threads, sealed ones the filter does not match) are made up by reading on.
   */
  async function fullPage(fetch: (before: string | undefined, limit: number | undefined) => Promise<CheckpointRecord[]>, options: ListOptions, keep: (r: CheckpointRecord) => boolean): Promise<CheckpointRecord[]> {
    const out: CheckpointRecord[] = [];
    let before = options.before;
    for (;;) {
      const want = options.limit === undefined ? undefined : options.limit - out.length;
      const page = await fetch(before, want);
      out.push(...(await opener.records(page)).filter(keep));
      if (want === undefined || page.length < want || out.length >= options.limit!) return out;
      before = page[page.length - 1]!.checkpointId;
    }
  }

  return {
    ...inner,
    opener,
    async getCheckpoint(threadId, ns, checkpointId) {
      return one(await inner.getCheckpoint(threadId, ns, checkpointId));
    },
    async getHead(threadId, ns) {
      return one(await inner.getHead(threadId, ns));
    },
    async listCheckpoints(threadId, ns, options) {
      return opener.records(await inner.listCheckpoints(threadId, ns, options));
    },
    async listAcrossThreads(options = {}) {
      const { filter, ...page } = options;
      if (filter === undefined || Object.keys(filter).length === 0) {
        return fullPage((before, limit) => inner.listAcrossThreads({ ...(before === undefined ? {} : { before }), ...(limit === undefined ? {} : { limit }) }), page, () => true);
      }
      // sealed metadata cannot be matched by MongoDB: sealed checkpoints come along and are matched here
      return fullPage(
        (before, limit) => listMatchingOrSealed(inner.collections.checkpoints, { filter, ...(before === undefined ? {} : { before }), ...(limit === undefined ? {} : { limit }) }),
        page,
        (r) => matchesFilter(r.metadata, filter as Parameters<typeof matchesFilter>[1]),
      );
    },
    async getBlobs(threadId, ns, versions) {
      const found = await inner.getBlobs(threadId, ns, versions);
      const sealed = found.some((cv) => (cv.kind === 'snapshot' ? isSealedValue(cv.value) : cv.items.some(isSealedValue)));
      const k = await opener.key(threadId, sealed);
      if (k === undefined) return [];
      return k === null ? found : found.map((cv) => openChannelValue(k, threadId, cv));
    },
    async getWrites(threadId, ns, checkpointId) {
      return (await openWrites(threadId, await inner.getWrites(threadId, ns, checkpointId))) ?? [];
    },
    async getWritesOf(threadId, ns, checkpointIds) {
      const byId = await inner.getWritesOf(threadId, ns, checkpointIds);
      const all = [...byId.values()].flat();
      const k = await opener.key(threadId, all.some(sealedWrite));
      const out = new Map<string, WriteRecord[]>();
      for (const [id, ws] of byId) out.set(id, k === undefined ? [] : k === null ? ws : ws.map((w) => ({ ...w, value: openValue(k, threadId, w.value) })));
      return out;
    },
  };
}
