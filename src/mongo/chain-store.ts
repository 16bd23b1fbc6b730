/**
 * Reads and writes of the hash-chain collection (`<generation>_chains`, projection/chain.ts)
 * and the per-thread document reads the audit and prune need. Lookups are by exact `_id`;
 * per-thread reads are `_id` prefix ranges (served from the `_id` index on MongoDB).
 */
import type { Collection, Db, Document } from 'mongodb';
import { chainIds, type ChainDoc, type LinkDoc, type PruneDoc } from '../projection/chain.ts';
import type { Pos } from '../projection/documents.ts';
import { ids, idRange } from '../projection/ids.ts';
import { plainDoc } from './records.ts';
import type { IdDoc } from './apply.ts';
import { mongoCall } from './errors.ts';

export interface ChainStore {
  getChain(threadId: string): Promise<ChainDoc | undefined>;
  getLink(threadId: string, pos: Pos): Promise<LinkDoc | undefined>;
  /** thread ids with a chain, in `_id` order */
  listChainedThreads(): AsyncGenerator<string>;
  /** every projection document of the thread (checkpoints, blobs, writes, heads, tombstone), BSON binaries as bytes */
  threadDocs(threadId: string): Promise<Map<string, Document & { _id: string }>>;
  prunedIds(threadId: string): Promise<Set<string>>;
  recordPrune(threadId: string, removed: readonly string[]): Promise<void>;
}

const PRUNE_IDS_PER_DOC = 5_000;

export function createChainStore(db: Db, generation: string): ChainStore {
  const col = (kind: string): Collection<IdDoc> => db.collection<IdDoc>(`${generation}_${kind}`);
  const chains = col('chains');
  return {
    async getChain(threadId) {
      const d = await mongoCall('reading a hash chain', () => chains.findOne({ _id: chainIds.chain(threadId) }));
      return (d ?? undefined) as ChainDoc | undefined;
    },
    async getLink(threadId, pos) {
      const d = await mongoCall('reading a chain link', () => chains.findOne({ _id: chainIds.link(threadId, pos) }));
      return (d ?? undefined) as LinkDoc | undefined;
    },
    async *listChainedThreads() {
      const cursor = chains.find({ _id: chainIds.range('chain') }, { projection: { threadId: 1 } }).sort({ _id: 1 });
      for await (const d of cursor) yield d.threadId as string;
    },
    async threadDocs(threadId) {
      const parts = await mongoCall('reading the thread\'s projection', () =>
        Promise.all([
          col('checkpoints').find({ _id: idRange('cp', threadId) }).toArray(),
          col('blobs').find({ _id: idRange('blob', threadId) }).toArray(),
          col('writes').find({ _id: idRange('w', threadId) }).toArray(),
          col('heads').find({ _id: idRange('head', threadId) }).toArray(),
          col('tombstones').find({ _id: ids.tombstone(threadId) }).toArray(),
        ]),
      );
      return new Map(parts.flat().map((d) => [d._id, plainDoc(d)]));
    },
    async prunedIds(threadId) {
      const docs = await mongoCall('reading prune records', () => chains.find({ _id: chainIds.range('prune', threadId) }).toArray());
      return new Set(docs.flatMap((d) => (d as unknown as PruneDoc).removed));
    },
    async recordPrune(threadId, removed) {
      if (removed.length === 0) return;
      const at = Date.now();
      const docs: PruneDoc[] = [];
      for (let i = 0; i * PRUNE_IDS_PER_DOC < removed.length; i++) {
        docs.push({ _id: chainIds.prune(threadId, at, i), threadId, at, removed: removed.slice(i * PRUNE_IDS_PER_DOC, (i + 1) * PRUNE_IDS_PER_DOC) });
      }
      await mongoCall('recording a prune', () => chains.insertMany(docs as unknown as IdDoc[]));
    },
  };
}
