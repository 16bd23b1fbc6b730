/**
 * The MongoDB projection: one collection per document kind, named `<generation>_<kind>` so a
 * rebuild writes a new generation beside the serving one. Every lookup is by `_id` or by an
 * `_id` prefix range (see projection/ids.ts); the only scans are cross-thread listings.
 */
import type { Db, Document, Sort } from 'mongodb';
import type { ChannelValue, ChannelVersion } from '../events/types.ts';
import { ThreadlogError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { collectionKinds, type CollectionKind, type Pos, type PositionedEvent } from '../projection/documents.ts';
import { ids, idRange } from '../projection/ids.ts';
import { metadataQuery } from '../projection/metadata.ts';
import { applyBatch, deletionOps, runBulks, type ApplyBatchOptions, type BatchResult, type Collections, type IdDoc } from './apply.ts';
import { createApplyState } from './apply-state.ts';
import { mongoCall } from './errors.ts';
import { idLookup, type IdLookup } from './lookup.ts';
import { toChannelValue, toCheckpointRecord, toWriteRecord, type CheckpointRecord, type WriteRecord } from './records.ts';
import { createMetaStore } from './meta.ts';
import { createProjectionStoreV2 } from './v2/projection-store.ts';

export interface ProjectionStoreOptions {
  /** a database of a client the caller created (and closes) */
  db: Db;
  /** collection name prefix; letters, digits, `_` and `-` */
  generation: string;
  logger?: Logger;
  /**
   * Secondary indexes for the queries that cannot use `_id`: `auto` creates them on MongoDB
   * and skips them on FerretDB, whose SQLite backend would maintain but never use them.
   */
  secondaryIndexes?: 'auto' | 'create' | 'skip';
  /** force a layout (tests, tools); default: the one recorded for the generation */
  layout?: 1 | 2;
  /** the layout a generation that does not exist yet is created with (default 2) */
  newLayout?: 1 | 2;
}

export const defaultProjectionStoreOptions = { logger: silentLogger, secondaryIndexes: 'auto' } as const;

export interface ListOptions {
  /** only checkpoints with an id lower than this one (exclusive, for paging) */
  before?: string;
  limit?: number;
}

export interface ProjectionStore {
  readonly generation: string;
  /**
   * The generation's document layout: 1 (a document per value and per write), 2 (one per
   * event, mongo/v2). Recorded in threadlog_meta when a projector sets the generation up;
   * a generation from before layouts were recorded is layout 1.
   */
  resolveLayout(): Promise<1 | 2>;
  readonly collections: Readonly<Collections>;
  setup(): Promise<void>;
  applyBatch(events: readonly PositionedEvent[], options?: ApplyBatchOptions): Promise<BatchResult>;
  /**
   * Forget what earlier batches taught the applier about its threads (apply-state.ts): call
   * when the set of partitions it applies changes, e.g. on a consumer group rejoin.
   */
  forgetApplyState(): void;
  getCheckpoint(threadId: string, ns: string, checkpointId: string): Promise<CheckpointRecord | undefined>;
  getHead(threadId: string, ns: string): Promise<CheckpointRecord | undefined>;
  /** newest first; `ns` undefined lists every namespace of the thread */
  listCheckpoints(threadId: string, ns: string | undefined, options?: ListOptions): Promise<CheckpointRecord[]>;
  listAcrossThreads(options?: ListOptions & { filter?: Record<string, unknown> }): Promise<CheckpointRecord[]>;
  /**
   * The stored values for (channel, version) pairs, in request order; missing pairs are left
   * out. Layout 2 finds a value through the checkpoint holding it (third element: the record's
   * `origins`, or an append's `baseCheckpoint`) and cannot without it.
   */
  getBlobs(threadId: string, ns: string, versions: ReadonlyArray<readonly [string, ChannelVersion, string?]>): Promise<ChannelValue[]>;
  /** pending writes of a checkpoint, ordered by task id then idx */
  getWrites(threadId: string, ns: string, checkpointId: string): Promise<WriteRecord[]>;
  /**
   * Pending writes of several checkpoints of one (thread, ns), by checkpoint id, in one query:
   * the `_id` range from the lowest to the highest of them (a listed page is contiguous).
   * Checkpoints without writes map to an empty list.
   */
  getWritesOf(threadId: string, ns: string, checkpointIds: readonly string[]): Promise<Map<string, WriteRecord[]>>;
  /** highest applied offset per partition (decimal strings, like Kafka offsets) */
  getAppliedOffsets(topic: string): Promise<Map<number, string>>;
  /** remove the thread's documents (older than `before` when given); returns how many */
  deleteThread(threadId: string, before?: Pos): Promise<number>;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

const byTaskThenIdx = (a: WriteRecord, b: WriteRecord): number => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : a.idx - b.idx);

/**
 * The projection of one generation, in the layout recorded for it (or, for a generation that
 * does not exist yet, `newLayout`). Methods wait for the layout to be known (one meta read).
 */
export function createProjectionStore(options: ProjectionStoreOptions): ProjectionStore {
  const { db, generation, logger, secondaryIndexes } = { ...defaultProjectionStoreOptions, ...options };
  if (!NAME.test(generation)) {
    throw new ThreadlogError('invalid-options', `generation must match ${NAME}: ${JSON.stringify(generation)}`);
  }
  const ferret = memo(() => isFerretDb(db));
  const lookup = async (): Promise<IdLookup> => idLookup((await ferret()) ? 'each' : 'in');
  const meta = createMetaStore(db);
  let known: Promise<1 | 2> | undefined;
  /** recorded, or a layout-1 generation made before layouts were recorded; else a new one */
  async function layoutOf(): Promise<{ layout: 1 | 2; certain: boolean }> {
    if (options.layout !== undefined) return { layout: options.layout, certain: true };
    const recorded = await meta.getLayout(generation);
    if (recorded !== undefined) return { layout: recorded, certain: true };
    const names = await mongoCall('listing collections', () => db.listCollections({ name: `${generation}_chains` }, { nameOnly: true }).toArray());
    if (names.length > 0) return { layout: 1, certain: true };
    return { layout: options.newLayout ?? 2, certain: false };
  }
  const resolveLayout = async (): Promise<1 | 2> => {
    if (known) return known;
    const r = await layoutOf();
    if (r.certain) known ??= Promise.resolve(r.layout);
    return r.layout;
  };
  const v1 = createProjectionStoreV1({ db, generation, logger, secondaryIndexes });
  const v2 = createProjectionStoreV2({ db, generation, lookup, ferret, secondaryIndexes });
  const impl = async (): Promise<ProjectionStore> => ((await resolveLayout()) === 1 ? v1 : v2);
  return {
    generation,
    resolveLayout,
    collections: v1.collections,
    async setup() {
      const layout = await meta.putLayoutIfAbsent(generation, (await layoutOf()).layout);
      known = Promise.resolve(layout);
      await (layout === 1 ? v1 : v2).setup();
    },
    applyBatch: async (events, opts) => (await impl()).applyBatch(events, opts),
    forgetApplyState() {
      v1.forgetApplyState();
      v2.forgetApplyState();
    },
    getCheckpoint: async (...a) => (await impl()).getCheckpoint(...a),
    getHead: async (...a) => (await impl()).getHead(...a),
    listCheckpoints: async (...a) => (await impl()).listCheckpoints(...a),
    listAcrossThreads: async (...a) => (await impl()).listAcrossThreads(...a),
    getBlobs: async (...a) => (await impl()).getBlobs(...a),
    getWrites: async (...a) => (await impl()).getWrites(...a),
    getWritesOf: async (...a) => (await impl()).getWritesOf(...a),
    getAppliedOffsets: async (...a) => (await impl()).getAppliedOffsets(...a),
    deleteThread: async (...a) => (await impl()).deleteThread(...a),
  };
}

function memo<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= f();
    p.catch(() => (p = undefined));
    return p;
  };
}

function createProjectionStoreV1(options: ProjectionStoreOptions): ProjectionStore {
  const { db, generation, logger, secondaryIndexes } = { ...defaultProjectionStoreOptions, ...options };
  const log = logger.child({ component: 'mongo-projection', generation });
  const cols = Object.fromEntries(
    collectionKinds.map((k) => [k, db.collection<IdDoc>(`${generation}_${k}`)]),
  ) as unknown as Collections;
  cols.chains = db.collection<IdDoc>(`${generation}_chains`);

  const newestFirst: Sort = { checkpointId: -1, _id: -1 };
  const find = (kind: CollectionKind, filter: Document, sort: Sort | undefined, limit: number | undefined, what: string) =>
    mongoCall(what, () => {
      let cursor = cols[kind].find(filter);
      if (sort) cursor = cursor.sort(sort);
      if (limit !== undefined) cursor = cursor.limit(limit);
      return cursor.toArray();
    });
  const findOne = (kind: CollectionKind, _id: string, what: string) => mongoCall(what, () => cols[kind].findOne({ _id }));
  // FerretDB runs `$in` as a scan of the whole collection: look ids up one by one there
  let lookupMode: Promise<IdLookup> | undefined;
  const lookup = (): Promise<IdLookup> => {
    lookupMode ??= isFerretDb(db).then((ferret) => idLookup(ferret ? 'each' : 'in'));
    lookupMode.catch(() => (lookupMode = undefined));
    return lookupMode;
  };
  const applyState = createApplyState();

  return {
    generation,
    resolveLayout: async () => 1,
    collections: cols,

    async setup() {
      const ferret = await isFerretDb(db);
      lookupMode ??= Promise.resolve(idLookup(ferret ? 'each' : 'in'));
      const create = secondaryIndexes === 'create' || (secondaryIndexes === 'auto' && !ferret);
      log.info({ ferret, secondaryIndexes: create }, 'projection setup');
      // Collections first: listing an empty generation must not fail on a missing collection.
      const existing = new Set((await mongoCall('listing collections', () => db.listCollections({}, { nameOnly: true }).toArray())).map((c) => c.name));
      for (const kind of [...collectionKinds, 'chains']) {
        const name = `${generation}_${kind}`;
        if (!existing.has(name)) await mongoCall(`creating ${name}`, () => db.createCollection(name)).catch(ignoreExists);
      }
      if (!create) return;
      await mongoCall('creating indexes', () =>
        Promise.all([
          // listCheckpoints(thread) without a namespace: newest first across the thread's
          // namespaces; `_id` order is per namespace, so this sort needs its own index.
          cols.checkpoints.createIndex({ threadId: 1, checkpointId: -1 }, { name: 'thread_newest_first' }),
          // listAcrossThreads: newest first with `before`/`limit` stops after `limit` matches.
          cols.checkpoints.createIndex({ checkpointId: -1 }, { name: 'newest_first' }),
          // listAcrossThreads({ filter }): equality on any metadata key (user keys are open-ended).
          cols.checkpoints.createIndex({ 'metadata.$**': 1 }, { name: 'metadata_filter' }),
        ]),
      );
    },

    applyBatch: async (events, opts) => applyBatch(cols, events, opts, { lookup: await lookup(), state: applyState }),

    forgetApplyState: () => applyState.forget(),

    async getCheckpoint(threadId, ns, checkpointId) {
      const d = await findOne('checkpoints', ids.checkpoint(threadId, ns, checkpointId), 'reading a checkpoint');
      return d ? toCheckpointRecord(d) : undefined;
    },

    async getHead(threadId, ns) {
      const d = await findOne('heads', ids.head(threadId, ns), 'reading a head');
      return d ? toCheckpointRecord(d) : undefined;
    },

    async listCheckpoints(threadId, ns, { before, limit } = {}) {
      if (ns === undefined) {
        const filter = { _id: idRange('cp', threadId), threadId, ...(before === undefined ? {} : { checkpointId: { $lt: before } }) };
        return (await find('checkpoints', filter, newestFirst, limit, 'listing a thread')).map(toCheckpointRecord);
      }
      // One `_id` range: encoded uuid6 ids sort by time, so this is the timeline, newest first.
      const range = idRange('cp', threadId, ns);
      const filter = { _id: before === undefined ? range : { $gte: range.$gte, $lt: ids.checkpoint(threadId, ns, before) } };
      return (await find('checkpoints', filter, { _id: -1 }, limit, 'listing a thread')).map(toCheckpointRecord);
    },

    async listAcrossThreads({ filter, before, limit } = {}) {
      const query = { ...metadataQuery(filter), ...(before === undefined ? {} : { checkpointId: { $lt: before } }) };
      return (await find('checkpoints', query, newestFirst, limit, 'listing checkpoints')).map(toCheckpointRecord);
    },

    async getBlobs(threadId, ns, versions) {
      if (versions.length === 0) return [];
      const wanted = versions.map(([channel, version]) => ids.blob(threadId, ns, channel, version));
      const byIds = await lookup();
      const docs = await mongoCall('reading channel values', () => byIds(cols.blobs, wanted));
      const byId = new Map(docs.map((d) => [d._id, d]));
      return wanted.flatMap((id) => {
        const d = byId.get(id);
        return d ? [toChannelValue(d)] : [];
      });
    },

    async getWrites(threadId, ns, checkpointId) {
      const docs = await find('writes', { _id: idRange('w', threadId, ns, checkpointId) }, undefined, undefined, 'reading pending writes');
      return docs.map(toWriteRecord).sort(byTaskThenIdx);
    },

    async getWritesOf(threadId, ns, checkpointIds) {
      const out = new Map<string, WriteRecord[]>(checkpointIds.map((id) => [id, []]));
      if (checkpointIds.length === 0) return out;
      const ranges = checkpointIds.map((id) => idRange('w', threadId, ns, id));
      const $gte = ranges.reduce((m, r) => (r.$gte < m ? r.$gte : m), ranges[0]!.$gte);
      const $lt = ranges.reduce((m, r) => (r.$lt > m ? r.$lt : m), ranges[0]!.$lt);
      const docs = await find('writes', { _id: { $gte, $lt } }, undefined, undefined, 'reading pending writes');
      for (const d of docs) out.get(d.checkpointId as string)?.push(toWriteRecord(d));
      for (const ws of out.values()) ws.sort(byTaskThenIdx);
      return out;
    },

    async getAppliedOffsets(topic) {
      const docs = await find('offsets', { _id: idRange('offset', topic) }, undefined, undefined, 'reading applied offsets');
      return new Map(docs.map((d) => [d.partition as number, String(d.offset)]));
    },

    async deleteThread(threadId, before) {
      const res = await runBulks(cols, deletionOps([{ threadId, before }]), 'deleting a thread');
      return [...res.values()].reduce((n, r) => n + r.deleted, 0);
    },
  };
}

async function isFerretDb(db: Db): Promise<boolean> {
  const info = await mongoCall('buildInfo', () => db.admin().command({ buildInfo: 1 }));
  return typeof info.ferretdbVersion === 'string';
}

function ignoreExists(e: unknown): void {
  // a concurrent setup() created it first: NamespaceExists (48)
  if ((e as { cause?: { code?: number } }).cause?.code !== 48) throw e;
}
