/**
 * The MongoDB projection in layout 2 (projection/v2/documents.ts): the same ProjectionStore as
 * layout 1, over one document per event. Lookups are by `_id` or an `_id` prefix range; a
 * channel value is read from the checkpoint document holding it (the record's `origins`, an
 * append's `baseCheckpoint`), so a cold read of the latest checkpoint is the head, one round
 * of origin documents, and one per skip-delta level.
 */
import type { Db, Document, Sort } from 'mongodb';
import type { ChannelValue, ChannelVersion, TypedValue } from '../../events/types.ts';
import type { Pos } from '../../projection/documents.ts';
import { ids, idRange } from '../../projection/ids.ts';
import { metadataQuery } from '../../projection/metadata.ts';
import { idsV2, type BlobPartDocV2, type CheckpointDocV2, type HeadDocV2, type WritesDocV2 } from '../../projection/v2/documents.ts';
import { channelValueOf } from '../../projection/v2/memory.ts';
import { mergeWrites } from '../../projection/v2/writes.ts';
import { THREAD_INDEX_V2 } from '../thread-index.ts';
import type { IdDoc } from '../apply.ts';
import { mongoCall } from '../errors.ts';
import type { IdLookup } from '../lookup.ts';
import { plainDoc, toCheckpointRecord, type CheckpointRecord, type WriteRecord } from '../records.ts';
import { applyBatchV2, type CollectionsV2 } from './apply.ts';
import { createApplyStateV2 } from './apply-state.ts';
import type { ListOptions, ProjectionStore } from '../projection-store.ts';
import type { Collections } from '../apply.ts';

export const collectionKindsV2 = ['checkpoints', 'writes', 'blobs', 'heads', 'tombstones', 'offsets'] as const;

// pruned value holders are not listed (ops/prune-v2.ts)
const listed = { pruned: { $exists: false } };
// listing needs no values: they are read through origins when a checkpoint is assembled
const withoutValues = { projection: { values: 0, link: 0 } };

const plainTyped = (v: TypedValue): TypedValue => {
  const p = plainDoc(v);
  return { type: p.type, value: p.value };
};

export function headRecord(d: HeadDocV2): CheckpointRecord | undefined {
  if (d.head === undefined) return undefined;
  return toCheckpointRecord(d.head);
}

export function createProjectionStoreV2(options: {
  db: Db;
  generation: string;
  lookup: () => Promise<IdLookup>;
  ferret: () => Promise<boolean>;
  secondaryIndexes: 'auto' | 'create' | 'skip';
  onSetup?: () => void;
}): ProjectionStore {
  const { db, generation } = options;
  const cols = Object.fromEntries(collectionKindsV2.map((k) => [k, db.collection<IdDoc>(`${generation}_${k}`)])) as unknown as CollectionsV2;
  const state = createApplyStateV2();
  const newestFirst: Sort = { checkpointId: -1, _id: -1 };
  const find = (col: keyof CollectionsV2, filter: Document, sort: Sort | undefined, limit: number | undefined, what: string, projection?: Document) =>
    mongoCall(what, () => {
      let cursor = cols[col].find(filter, projection);
      if (sort) cursor = cursor.sort(sort);
      if (limit !== undefined) cursor = cursor.limit(limit);
      return cursor.toArray();
    });

  async function valuesAt(threadId: string, ns: string, origin: string, wanted: ReadonlyArray<readonly [string, ChannelVersion]>, lookup: IdLookup, doc?: CheckpointDocV2): Promise<ChannelValue[]> {
    const d = doc ?? ((await mongoCall('reading channel values', () => cols.checkpoints.findOne({ _id: ids.checkpoint(threadId, ns, origin) }))) as unknown as CheckpointDocV2 | null) ?? undefined;
    if (d === undefined) return [];
    const spilled = d.values.filter((v) => v.kind === 'spilled' && wanted.some(([c, ver]) => c === v.channel && ver === v.version));
    const partIds = spilled.flatMap((v) => (v.kind === 'spilled' ? Array.from({ length: v.parts }, (_, i) => idsV2.blobPart(threadId, ns, origin, v.channel, i)) : []));
    const parts = new Map<string, Uint8Array>();
    if (partIds.length > 0) {
      for (const p of await mongoCall('reading spilled values', () => lookup(cols.blobs, partIds))) parts.set(p._id, plainDoc((p as unknown as BlobPartDocV2).data));
    }
    const plain = plainDoc(d);
    return wanted.flatMap(([channel, version]) => {
      const cv = channelValueOf(plain, channel, version, (id) => parts.get(id));
      return cv === undefined ? [] : [cv];
    });
  }

  return {
    generation,
    resolveLayout: async () => 2,
    // the listing streams checkpoint documents by `_id` range, the same in both layouts
    collections: cols as unknown as Collections,

    async setup() {
      const ferret = await options.ferret();
      const create = options.secondaryIndexes === 'create' || (options.secondaryIndexes === 'auto' && !ferret);
      const existing = new Set((await mongoCall('listing collections', () => db.listCollections({}, { nameOnly: true }).toArray())).map((c) => c.name));
      for (const kind of [...collectionKindsV2, 'problems']) {
        const name = `${generation}_${kind}`;
        if (!existing.has(name)) await mongoCall(`creating ${name}`, () => db.createCollection(name)).catch(ignoreExists);
      }
      options.onSetup?.();
      if (!create) return;
      await mongoCall('creating indexes', () =>
        Promise.all([
          // listCheckpoints(thread) without a namespace: newest first across its namespaces
          cols.checkpoints.createIndex({ threadId: 1, checkpointId: -1 }, { name: 'thread_newest_first' }),
          // listAcrossThreads: newest first with `before`/`limit`
          cols.checkpoints.createIndex({ checkpointId: -1 }, { name: 'newest_first' }),
          // listAcrossThreads({ filter }): equality on any metadata key
          cols.checkpoints.createIndex({ 'metadata.$**': 1 }, { name: 'metadata_filter' }),
          // the viewer's most recent threads (mongo/thread-index.ts)
          cols.heads.createIndex(THREAD_INDEX_V2.key, { name: THREAD_INDEX_V2.name }),
        ]),
      );
    },

    applyBatch: async (events, opts) => applyBatchV2(cols, events, opts ?? {}, await options.lookup(), state),

    forgetApplyState: () => state.forget(),

    async getCheckpoint(threadId, ns, checkpointId) {
      const d = await mongoCall('reading a checkpoint', () => cols.checkpoints.findOne({ _id: ids.checkpoint(threadId, ns, checkpointId) }, withoutValues));
      // a pruned value holder is no checkpoint any more (ops/prune-v2.ts)
      return d && d.pruned !== true ? toCheckpointRecord(d) : undefined;
    },

    async getHead(threadId, ns) {
      const d = await mongoCall('reading a head', () => cols.heads.findOne({ _id: ids.head(threadId, ns) }));
      return d ? headRecord(d as unknown as HeadDocV2) : undefined;
    },

    async listCheckpoints(threadId, ns, { before, limit }: ListOptions = {}) {
      if (ns === undefined) {
        const filter = { _id: idRange('cp', threadId), threadId, ...listed, ...(before === undefined ? {} : { checkpointId: { $lt: before } }) };
        return (await find('checkpoints', filter, newestFirst, limit, 'listing a thread', withoutValues)).map(toCheckpointRecord);
      }
      const range = idRange('cp', threadId, ns);
      const filter = { _id: before === undefined ? range : { $gte: range.$gte, $lt: ids.checkpoint(threadId, ns, before) }, ...listed };
      return (await find('checkpoints', filter, { _id: -1 }, limit, 'listing a thread', withoutValues)).map(toCheckpointRecord);
    },

    async listAcrossThreads({ filter, before, limit } = {}) {
      const query = { ...metadataQuery(filter), ...listed, ...(before === undefined ? {} : { checkpointId: { $lt: before } }) };
      return (await find('checkpoints', query, newestFirst, limit, 'listing checkpoints', withoutValues)).map(toCheckpointRecord);
    },

    async getBlobs(threadId, ns, versions) {
      if (versions.length === 0) return [];
      const lookup = await options.lookup();
      const byOrigin = new Map<string, Array<readonly [string, ChannelVersion]>>();
      for (const [channel, version, origin] of versions) {
        // without the checkpoint holding it, a version cannot be found in this layout
        if (origin === undefined) continue;
        const list = byOrigin.get(origin) ?? [];
        byOrigin.set(origin, list);
        list.push([channel, version]);
      }
      const origins = [...byOrigin.keys()];
      const docs = await mongoCall('reading channel values', () => lookup(cols.checkpoints, origins.map((o) => ids.checkpoint(threadId, ns, o))));
      const byId = new Map(docs.map((d) => [d._id, d as unknown as CheckpointDocV2]));
      const found = new Map<string, ChannelValue>();
      await Promise.all(
        origins.map(async (o) => {
          const doc = byId.get(ids.checkpoint(threadId, ns, o));
          if (doc === undefined) return;
          for (const cv of await valuesAt(threadId, ns, o, byOrigin.get(o)!, lookup, doc)) found.set(JSON.stringify([cv.channel, cv.version, o]), cv);
        }),
      );
      return versions.flatMap(([channel, version, origin]) => {
        const cv = origin === undefined ? undefined : found.get(JSON.stringify([channel, version, origin]));
        return cv === undefined ? [] : [cv];
      });
    },

    async getWrites(threadId, ns, checkpointId) {
      const docs = await find('writes', { _id: idRange('w', threadId, ns, checkpointId) }, undefined, undefined, 'reading pending writes');
      return mergeWrites(docs as unknown as WritesDocV2[], plainTyped);
    },

    async getWritesOf(threadId, ns, checkpointIds) {
      const out = new Map<string, WriteRecord[]>(checkpointIds.map((id) => [id, []]));
      if (checkpointIds.length === 0) return out;
      const ranges = checkpointIds.map((id) => idRange('w', threadId, ns, id));
      const $gte = ranges.reduce((m, r) => (r.$gte < m ? r.$gte : m), ranges[0]!.$gte);
      const $lt = ranges.reduce((m, r) => (r.$lt > m ? r.$lt : m), ranges[0]!.$lt);
      const docs = (await find('writes', { _id: { $gte, $lt } }, undefined, undefined, 'reading pending writes')) as unknown as WritesDocV2[];
      const per = new Map<string, WritesDocV2[]>();
      for (const d of docs) if (out.has(d.checkpointId)) per.set(d.checkpointId, [...(per.get(d.checkpointId) ?? []), d]);
      for (const [id, ds] of per) out.set(id, mergeWrites(ds, plainTyped));
      return out;
    },

    async getAppliedOffsets(topic) {
      const docs = await find('offsets', { _id: idRange('offset', topic) }, undefined, undefined, 'reading applied offsets');
      return new Map(docs.map((d) => [d.partition as number, String(d.offset)]));
    },

    async deleteThread(threadId, before?: Pos) {
      const older = before === undefined ? {} : { $or: [{ 'pos.partition': { $lt: before.partition } }, { 'pos.partition': before.partition, 'pos.offset': { $lt: before.offset } }] };
      let n = 0;
      for (const [kind, prefix] of [['checkpoints', 'cp'], ['writes', 'w'], ['blobs', 'blob']] as const) {
        n += (await mongoCall('deleting a thread', () => cols[kind].deleteMany({ _id: idRange(prefix, threadId), ...older }))).deletedCount;
      }
      n += (await mongoCall('deleting a thread', () => cols.heads.deleteMany({ _id: idRange('head', threadId) }))).deletedCount;
      return n;
    },
  };
}

function ignoreExists(e: unknown): void {
  if ((e as { cause?: { code?: number } }).cause?.code !== 48) throw e;
}
