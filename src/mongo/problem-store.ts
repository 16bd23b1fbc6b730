/**
 * Broken delta chains found by the projector (projector/missing-bases.ts), one document per
 * delta in `<generation>_problems`, `_id` = ids.brokenDelta(...): re-reporting the same delta
 * after a redelivery writes nothing new. Read by the store's health() and the operators;
 * removed with the thread when it is deleted. A rebuilt generation finds them again.
 */
import type { Collection, Db } from 'mongodb';
import type { ChannelVersion } from '../events/types.ts';
import type { Pos } from '../projection/documents.ts';
import { ids, idRange } from '../projection/ids.ts';
import type { IdDoc } from './apply.ts';
import { olderThan } from './apply.ts';
import { mongoCall } from './errors.ts';

export interface BrokenDelta {
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  channel: string;
  version: ChannelVersion;
  base: ChannelVersion;
  /** where the delta is in the log */
  pos: Pos;
  message: string;
  /** when the projector first saw it (ms since epoch) */
  detectedAt: number;
}

export interface ProblemStore {
  record(problems: readonly BrokenDelta[]): Promise<void>;
  /** newest generation's reports, of one thread or all, in `_id` order */
  list(options?: { threadId?: string; limit?: number }): Promise<BrokenDelta[]>;
  /** how many are recorded (an estimate on MongoDB: it reads collection metadata) */
  count(): Promise<number>;
  /** forget a deleted thread's reports (those before the delete when `before` is given) */
  clearThread(threadId: string, before?: Pos): Promise<void>;
}

export const problemsCollection = (generation: string): string => `${generation}_problems`;

export function createProblemStore(db: Db, generation: string): ProblemStore {
  const col: Collection<IdDoc> = db.collection<IdDoc>(problemsCollection(generation));
  const strip = ({ _id, ...rest }: IdDoc): BrokenDelta => rest as unknown as BrokenDelta;
  return {
    async record(problems) {
      if (problems.length === 0) return;
      await mongoCall('recording broken delta chains', () =>
        col.bulkWrite(
          problems.map((p) => ({ updateOne: { filter: { _id: ids.brokenDelta(p.threadId, p.checkpointNs, p.channel, p.version) }, update: { $setOnInsert: { ...p } }, upsert: true } })),
          { ordered: false },
        ),
      );
    },
    async list({ threadId, limit } = {}) {
      const filter = threadId === undefined ? {} : { _id: idRange('broken', threadId) };
      const docs = await mongoCall('reading broken delta chains', () => {
        let c = col.find(filter).sort({ _id: 1 });
        if (limit !== undefined) c = c.limit(limit);
        return c.toArray();
      });
      return docs.map(strip);
    },
    count: () => mongoCall('counting broken delta chains', () => col.estimatedDocumentCount()),
    async clearThread(threadId, before) {
      await mongoCall('clearing broken delta chains', () => col.deleteMany({ _id: idRange('broken', threadId), ...(before ? olderThan(before) : {}) }));
    },
  };
}
