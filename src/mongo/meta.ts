/**
 * `threadlog_meta`: the few documents that are about projections rather than threads —
 * which generation serves reads, what each generation is (its Redis key prefix, its build
 * state), and how far an import from another saver got. Small, rarely written, read by
 * `_id` only. Nothing here is needed to rebuild a projection from the log.
 */
import type { Collection, Db } from 'mongodb';
import { mongoCall } from './errors.ts';

export const META_COLLECTION = 'threadlog_meta';

/** The "current generation" pointer readers follow. */
export interface GenerationPointer {
  current: string;
  previous: string | undefined;
  switchedAt: Date;
}

export type GenerationState = 'building' | 'caught-up' | 'serving' | 'retired';

/** What a generation built by `threadlog rebuild` is. A generation without one is a legacy one. */
export interface GenerationRecord {
  generation: string;
  /** where its projector keeps heads, checkpoints and watermarks in Redis */
  redisPrefix: string;
  groupId: string;
  state: GenerationState;
  createdAt: Date;
  caughtUpAt?: Date;
}

export interface ImportMarker {
  source: string;
  threadId: string;
  state: 'started' | 'done';
  checkpoints: number;
  writes: number;
  at: Date;
}

interface MetaDoc {
  _id: string;
  [k: string]: unknown;
}

export interface MetaStore {
  readonly collection: Collection<MetaDoc>;
  getPointer(): Promise<GenerationPointer | undefined>;
  /**
   * Atomic: moves the pointer only if it still names `expected` (undefined: no pointer yet).
   * Returns false when someone else moved it first.
   */
  switchPointer(expected: string | undefined, next: string): Promise<boolean>;
  getGeneration(generation: string): Promise<GenerationRecord | undefined>;
  putGeneration(record: GenerationRecord): Promise<void>;
  setGenerationState(generation: string, state: GenerationState): Promise<void>;
  deleteGeneration(generation: string): Promise<void>;
  /** the document layout a generation was created with (projection-store.ts); undefined: not recorded */
  getLayout(generation: string): Promise<1 | 2 | undefined>;
  /** records it unless one is recorded already; returns the recorded one */
  putLayoutIfAbsent(generation: string, layout: 1 | 2): Promise<1 | 2>;
  getImportMarkers(source: string, threads: readonly string[]): Promise<Map<string, ImportMarker>>;
  putImportMarker(marker: ImportMarker): Promise<void>;
}

const pointerId = 'generation';
const generationId = (g: string): string => `generation:${g}`;
const layoutId = (g: string): string => `layout:${g}`;
const importId = (source: string, thread: string): string => `import:${source}:${encodeURIComponent(thread)}`;

export function createMetaStore(db: Db): MetaStore {
  const col = db.collection<MetaDoc>(META_COLLECTION);
  const getLayout = async (generation: string): Promise<1 | 2 | undefined> => {
    const d = await mongoCall('reading a generation layout', () => col.findOne({ _id: layoutId(generation) }));
    return d?.layout === 1 || d?.layout === 2 ? d.layout : undefined;
  };
  return {
    collection: col,

    async getPointer() {
      const d = await mongoCall('reading the generation pointer', () => col.findOne({ _id: pointerId }));
      if (!d || typeof d.current !== 'string') return undefined;
      return { current: d.current, previous: typeof d.previous === 'string' ? d.previous : undefined, switchedAt: d.switchedAt as Date };
    },

    async switchPointer(expected, next) {
      const doc = { current: next, previous: expected, switchedAt: new Date() };
      if (expected === undefined) {
        try {
          await mongoCall('creating the generation pointer', () => col.insertOne({ _id: pointerId, ...doc }));
          return true;
        } catch (e) {
          if ((e as { cause?: { code?: number } }).cause?.code === 11000) return false;
          throw e;
        }
      }
      const r = await mongoCall('switching the generation pointer', () => col.updateOne({ _id: pointerId, current: expected }, { $set: doc }));
      return r.modifiedCount === 1;
    },

    async getGeneration(generation) {
      const d = await mongoCall('reading a generation record', () => col.findOne({ _id: generationId(generation) }));
      if (!d) return undefined;
      const { _id, ...rest } = d;
      return rest as unknown as GenerationRecord;
    },

    async putGeneration(record) {
      await mongoCall('writing a generation record', () => col.replaceOne({ _id: generationId(record.generation) }, { ...record }, { upsert: true }));
    },

    async setGenerationState(generation, state) {
      const extra = state === 'caught-up' ? { caughtUpAt: new Date() } : {};
      await mongoCall('updating a generation record', () => col.updateOne({ _id: generationId(generation) }, { $set: { state, ...extra } }));
    },

    async deleteGeneration(generation) {
      await mongoCall('deleting a generation record', () => col.deleteOne({ _id: generationId(generation) }));
    },

    getLayout,

    async putLayoutIfAbsent(generation, layout) {
      await mongoCall('recording a generation layout', () => col.updateOne({ _id: layoutId(generation) }, { $setOnInsert: { generation, layout } }, { upsert: true })).catch((e: unknown) => {
        // two starting projectors: the other one recorded it first
        if ((e as { cause?: { code?: number } }).cause?.code !== 11000) throw e;
      });
      return (await getLayout(generation)) ?? layout;
    },

    async getImportMarkers(source, threads) {
      const out = new Map<string, ImportMarker>();
      // by _id in chunks: FerretDB pushes `_id` $in down, a scan on `source` it would not
      for (let i = 0; i < threads.length; i += 500) {
        const wanted = threads.slice(i, i + 500).map((t) => importId(source, t));
        const docs = await mongoCall('reading import markers', () => col.find({ _id: { $in: wanted } }).toArray());
        for (const d of docs) {
          const { _id, ...m } = d;
          out.set(m.threadId as string, m as unknown as ImportMarker);
        }
      }
      return out;
    },

    async putImportMarker(marker) {
      await mongoCall('writing an import marker', () => col.replaceOne({ _id: importId(marker.source, marker.threadId) }, { ...marker }, { upsert: true }));
    },
  };
}

/**
 * The Redis key prefix of a generation's projector and readers. A generation built by
 * `threadlog rebuild` has its own (recorded in its GenerationRecord), so the old and the new
 * projector never advance each other's heads or watermarks; a generation without a record
 * (the first one, made before any rebuild) uses the base prefix.
 */
export async function generationRedisPrefix(meta: MetaStore, basePrefix: string, generation: string): Promise<string> {
  return (await meta.getGeneration(generation))?.redisPrefix ?? basePrefix;
}

/** The prefix a rebuilt generation gets: under the base prefix, never a prefix of another's keys. */
export const rebuiltRedisPrefix = (basePrefix: string, generation: string): string => `${basePrefix}gen.${generation}:`;

/** The generation readers use: the pointer when there is one, else the configured one. */
export async function servingGeneration(meta: MetaStore, configured: string): Promise<string> {
  return (await meta.getPointer())?.current ?? configured;
}
