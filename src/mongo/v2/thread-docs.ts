/**
 * A thread's documents in layout 2, as the audit and prune read them: `_id` prefix ranges per
 * collection (served by the `_id` index), the threads of a generation (from its heads and
 * tombstones), and prune markers — the `_id`s a `threadlog prune` removed on purpose, written
 * before it removes them, in `<generation>_prunes` (no projector writes there, so a rebuild
 * starts without any).
 */
import type { Collection, Db, Document } from 'mongodb';
import { ids, idRange } from '../../projection/ids.ts';
import { encodeIdPart } from '../../projection/ids.ts';
import type { IdDoc } from '../apply.ts';
import { mongoCall } from '../errors.ts';
import { plainDoc } from '../records.ts';

export interface ThreadDocsV2 {
  /** every document of the thread (checkpoints, writes, blob parts, heads, tombstone), BSON binaries as bytes */
  threadDocs(threadId: string): Promise<Map<string, Document & { _id: string }>>;
  /** threads with a head or a tombstone, in `_id` order, each once */
  listThreads(): AsyncGenerator<string>;
  /** `_id`s a prune removed, and those it marked as value holders */
  prunedIds(threadId: string): Promise<{ removed: Set<string>; held: Set<string> }>;
  recordPrune(threadId: string, removed: readonly string[], held: readonly string[]): Promise<void>;
}

const PRUNE_IDS_PER_DOC = 5_000;
const pad = (n: number): string => String(n).padStart(16, '0');
const pruneRange = (threadId: string): { $gte: string; $lt: string } => ({ $gte: `prune:${encodeIdPart(threadId)}:`, $lt: `prune:${encodeIdPart(threadId)};` });

export function createThreadDocsV2(db: Db, generation: string): ThreadDocsV2 {
  const col = (kind: string): Collection<IdDoc> => db.collection<IdDoc>(`${generation}_${kind}`);
  return {
    async threadDocs(threadId) {
      const parts = await mongoCall("reading the thread's projection", () =>
        Promise.all([
          col('checkpoints').find({ _id: idRange('cp', threadId) }).toArray(),
          col('writes').find({ _id: idRange('w', threadId) }).toArray(),
          col('blobs').find({ _id: idRange('blob', threadId) }).toArray(),
          col('heads').find({ _id: idRange('head', threadId) }).toArray(),
          col('tombstones').find({ _id: ids.tombstone(threadId) }).toArray(),
        ]),
      );
      return new Map(parts.flat().map((d) => [d._id, plainDoc(d)]));
    },
    async *listThreads() {
      // heads are per (thread, ns) in `_id` order, so a thread's heads are adjacent
      let last: string | undefined;
      for await (const d of col('heads').find({}, { projection: { threadId: 1 } }).sort({ _id: 1 })) {
        if (d.threadId !== last) yield (last = d.threadId as string);
      }
      const seen = new Set<string>();
      for await (const d of col('tombstones').find({}, { projection: { threadId: 1 } })) seen.add(d.threadId as string);
      for await (const d of col('heads').find({}, { projection: { threadId: 1 } })) seen.delete(d.threadId as string);
      yield* [...seen].sort();
    },
    async prunedIds(threadId) {
      const docs = await mongoCall('reading prune records', () => col('prunes').find({ _id: pruneRange(threadId) }).toArray());
      return { removed: new Set(docs.flatMap((d) => (d.removed ?? []) as string[])), held: new Set(docs.flatMap((d) => (d.held ?? []) as string[])) };
    },
    async recordPrune(threadId, removed, held) {
      if (removed.length + held.length === 0) return;
      const at = Date.now();
      const docs: IdDoc[] = [];
      const all = [...removed.map((id) => ['removed', id] as const), ...held.map((id) => ['held', id] as const)];
      for (let i = 0; i * PRUNE_IDS_PER_DOC < all.length; i++) {
        const part = all.slice(i * PRUNE_IDS_PER_DOC, (i + 1) * PRUNE_IDS_PER_DOC);
        docs.push({ _id: `prune:${encodeIdPart(threadId)}:${pad(at)}:${i}`, threadId, at, removed: part.filter(([k]) => k === 'removed').map(([, id]) => id), held: part.filter(([k]) => k === 'held').map(([, id]) => id) });
      }
      await mongoCall('recording a prune', () => col('prunes').insertMany(docs));
    },
  };
}
