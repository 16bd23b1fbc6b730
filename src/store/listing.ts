/**
 * list (newest first) and stream (oldest first), paged so memory stays bounded by the page
 * size whatever the thread's length. Cross-thread lists page by checkpoint id, which is
 * unique for LangGraph's uuid6 ids.
 */
import { validateCheckpointNs, validateThreadId } from '../events/validate.ts';
import { mongoCall } from '../mongo/errors.ts';
import type { ProjectionStore } from '../mongo/projection-store.ts';
import { toCheckpointRecord, type CheckpointRecord } from '../mongo/records.ts';
import { ids, idRange } from '../projection/ids.ts';
import { partitionFor } from '../kafka/partition.ts';
import { matchesFilter, validateMetadataFilter } from './filter.ts';
import type { OwnReads, OwnThreadListing } from './own-reads.ts';
import type { Reader } from './reader.ts';
import type { Requirements } from './requirements.ts';
import type { OwnCheckpoint } from './own-writes.ts';
import { NONE } from './session.ts';
import type { ListOptions, ReadOptions, StoredCheckpoint } from './types.ts';
import type { WatermarkWaiter } from './watermarks.ts';

export interface ListingDeps {
  projection: ProjectionStore;
  reader: Reader;
  requirements: Requirements;
  waiter: WatermarkWaiter;
  partitions: number;
  pageSize: number;
  timeoutMs: number;
  /** write-through reads (absent: disabled): lets a session list skip waiting for the projector */
  ownReads?: OwnReads;
  /** records read straight from the collection (stream) opened as the projection's own reads are (encryption) */
  openRecords?: (recs: readonly CheckpointRecord[]) => Promise<CheckpointRecord[]>;
}

export function createListing(d: ListingDeps) {
  async function* list(options: ListOptions): AsyncGenerator<StoredCheckpoint> {
    const filter = validateMetadataFilter(options.filter);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (!(limit > 0)) return;
    const { threadId, checkpointNs: ns } = options;
    if (ns !== undefined) validateCheckpointNs(ns);
    const timeoutMs = options.timeoutMs ?? d.timeoutMs;
    let fetch: (before: string | undefined, size: number) => Promise<CheckpointRecord[]>;
    let waitFor: (partition: number) => bigint;
    // one thread's timeline: a page's pending writes in one query (reader.fromRecords)
    const byThread = threadId !== undefined;
    // own checkpoints merged into what the projection lists now, instead of waiting for it
    let mine: OwnThreadListing | undefined;
    let serveMissing = async (_c: OwnCheckpoint): Promise<StoredCheckpoint | undefined> => undefined;
    if (threadId !== undefined) {
      validateThreadId(threadId);
      const p = partitionFor(threadId, d.partitions);
      const req = await d.requirements.forThread(threadId, ns ?? '', p, options);
      const known = d.waiter.known(p);
      mine = req.wait >= 0n && req.wait > known ? d.ownReads?.listing(threadId, ns, p, known, options) : undefined;
      if (mine === undefined && req.wait >= 0n) await d.waiter.waitFor(new Map([[p, req.wait]]), timeoutMs);
      fetch = (before, size) => d.projection.listCheckpoints(threadId, ns, { before, limit: size });
      // merged: projected checkpoints as projected now (own writes on them are projected: the
      // record stood in only for what `known` covers); otherwise: as of the own writes
      const asOf = mine === undefined ? req.wait : known;
      waitFor = () => asOf;
      // an own checkpoint the record cannot assemble now (a value evicted from L1): from the
      // projection, once it has everything this instance wrote
      serveMissing = async (c) => {
        await d.waiter.waitFor(new Map([[p, req.wait]]), timeoutMs);
        return (await d.reader.byId(threadId, c.checkpointNs, c.checkpointId, req)).value;
      };
    } else {
      const required = await d.requirements.forPartitions(options);
      if (required.size > 0) await d.waiter.waitFor(required, timeoutMs);
      fetch = (before, size) => d.projection.listAcrossThreads({ before, limit: size, ...(filter === undefined ? {} : { filter }) });
      waitFor = (p) => required.get(p) ?? NONE;
    }

    const ownKey = (cpNs: string, id: string): string => JSON.stringify([cpNs, id]);
    const ownKeys = new Set((mine?.checkpoints ?? []).map((c) => ownKey(c.checkpointNs, c.checkpointId)));
    const ownItems = (mine?.checkpoints ?? []).filter(
      (c) => (options.before === undefined || c.checkpointId < options.before) && matchesFilter(c.metadata, filter),
    );
    let nextOwn = 0;
    /** own checkpoints newer than `id` (all that are left when undefined), in order */
    async function* ownNewerThan(id: string | undefined): AsyncGenerator<StoredCheckpoint> {
      while (nextOwn < ownItems.length && (id === undefined || ownItems[nextOwn]!.checkpointId > id)) {
        const c = ownItems[nextOwn++]!;
        const served = (await mine!.serve(c))?.value ?? (await serveMissing(c));
        if (served !== undefined) yield served;
      }
    }

    // With `limit` own checkpoints at hand, a projected one older than the limit-th of them can
    // never be listed: the projection is read down to there, not through the whole thread.
    const floor = Number.isFinite(limit) && ownItems.length >= limit ? ownItems[limit - 1]!.checkpointId : undefined;
    let before = options.before;
    let yielded = 0;
    for (;;) {
      // a page as large as what is still wanted plus what may be skipped as own (never more
      // than pageSize): a list of 10 reads 10 records, not a page of 100
      const size = Math.min(d.pageSize, limit - yielded + ownKeys.size);
      const page = await fetch(before, size);
      const shown: CheckpointRecord[] = [];
      for (const rec of page) {
        before = rec.checkpointId;
        if (ns !== undefined && rec.checkpointNs !== ns) continue;
        // this instance's own checkpoint: as its session reads give it (merged below)
        if (ownKeys.has(ownKey(rec.checkpointNs, rec.checkpointId))) continue;
        if (!d.reader.alive(rec.threadId, rec.position) || !matchesFilter(rec.metadata, filter)) continue;
        shown.push(rec);
        if (yielded + shown.length >= limit) break;
      }
      for (const stored of settledInOrder(await d.reader.fromRecords(shown, waitFor, { byThread }))) {
        for await (const o of ownNewerThan(stored.checkpointId)) {
          yield o;
          if (++yielded >= limit) return;
        }
        yield stored;
        if (++yielded >= limit) return;
      }
      if (yielded >= limit || page.length < size || (floor !== undefined && before !== undefined && before < floor)) break;
    }
    for await (const o of ownNewerThan(undefined)) {
      yield o;
      if (++yielded >= limit) return;
    }
  }

  async function* stream(threadId: string, options: { checkpointNs?: string; pageSize?: number } & ReadOptions = {}): AsyncGenerator<StoredCheckpoint> {
    validateThreadId(threadId);
    const ns = options.checkpointNs ?? '';
    validateCheckpointNs(ns);
    const pageSize = options.pageSize ?? d.pageSize;
    const p = partitionFor(threadId, d.partitions);
    const req = await d.requirements.forThread(threadId, ns, p, options);
    if (req.wait >= 0n) await d.waiter.waitFor(new Map([[p, req.wait]]), options.timeoutMs ?? d.timeoutMs);
    // the projection lists newest first; oldest first is an ascending `_id` range (uuid6
    // ids sort by time), read here a page at a time
    const range = idRange('cp', threadId, ns);
    let after = range.$gte;
    for (;;) {
      const gt = after;
      const docs = await mongoCall('streaming a thread', () =>
        // (layout 2: without the values, read through origins; pruned value holders are no checkpoints)
        d.projection.collections.checkpoints.find({ _id: { $gt: gt, $lt: range.$lt }, pruned: { $exists: false } }, { projection: { values: 0, link: 0 } }).sort({ _id: 1 }).limit(pageSize).toArray(),
      );
      const raw = docs.map(toCheckpointRecord);
      const last = raw[raw.length - 1];
      const recs = d.openRecords === undefined ? raw : await d.openRecords(raw);
      if (last) after = ids.checkpoint(threadId, ns, last.checkpointId);
      yield* settledInOrder(await d.reader.fromRecords(recs.filter((rec) => d.reader.alive(threadId, rec.position)), () => req.wait));
      if (docs.length < pageSize) return;
    }
  }

  return { list, stream };
}

/**
 * A page's checkpoints in order, up to the first that cannot be read: that one's error is
 * thrown there (a broken delta chain), after everything before it was handed out — a list
 * never skips a checkpoint silently, and a thread's readable newer checkpoints still come.
 */
function* settledInOrder<T>(results: ReadonlyArray<PromiseSettledResult<T>>): Generator<T> {
  for (const r of results) {
    if (r.status === 'rejected') throw r.reason;
    yield r.value;
  }
}
