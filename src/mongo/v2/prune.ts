/**
 * MongoDB side of `threadlog prune` in layout 2: the thread's documents in the shapes
 * ops/prune-v2.ts plans with (`_id` prefix ranges), and removal by exact `_id` lists. The
 * removed `_id`s are recorded (prune markers) BEFORE anything is deleted, so an audit never
 * meets an unexplained gap, and a prune killed half-way is finished by running it again.
 */
import type { Db } from 'mongodb';
import type { PruneCheckpointV2, PruneOwnedV2, PrunePlanV2 } from '../../ops/prune-v2.ts';
import { idRange } from '../../projection/ids.ts';
import type { StoredValue } from '../../projection/v2/documents.ts';
import { bulkWrite, type IdDoc } from '../apply.ts';
import { mongoCall } from '../errors.ts';
import type { ThreadDocsV2 } from './thread-docs.ts';

const DELETE_CHUNK = 1_000;

export async function readPruneInputsV2(db: Db, generation: string, threadId: string): Promise<{ cps: PruneCheckpointV2[]; writes: PruneOwnedV2[]; blobs: PruneOwnedV2[] }> {
  const col = (k: string) => db.collection<IdDoc>(`${generation}_${k}`);
  const owned = { projection: { checkpointNs: 1, checkpointId: 1 } };
  const [cps, writes, blobs] = await mongoCall('reading the thread for a prune', () =>
    Promise.all([
      col('checkpoints').find({ _id: idRange('cp', threadId) }, { projection: { checkpointNs: 1, checkpointId: 1, parentCheckpointId: 1, ts: 1, pos: 1, origins: 1, values: 1 } }).toArray(),
      col('writes').find({ _id: idRange('w', threadId) }, owned).toArray(),
      col('blobs').find({ _id: idRange('blob', threadId) }, owned).toArray(),
    ]),
  );
  return {
    cps: cps.map((d) => ({
      _id: d._id,
      checkpointNs: d.checkpointNs as string,
      checkpointId: d.checkpointId as string,
      ...(d.parentCheckpointId ? { parentCheckpointId: d.parentCheckpointId as string } : {}),
      ts: d.ts as number,
      pos: d.pos as PruneCheckpointV2['pos'],
      origins: ((d.origins ?? []) as Array<{ checkpoint: string }>).map((o) => o.checkpoint),
      bases: ((d.values ?? []) as StoredValue[]).flatMap((v) => (v.kind === 'append' && v.baseCheckpoint !== undefined ? [v.baseCheckpoint] : [])),
    })),
    writes: writes as unknown as PruneOwnedV2[],
    blobs: blobs as unknown as PruneOwnedV2[],
  };
}

export async function applyPruneV2(db: Db, generation: string, docs: ThreadDocsV2, threadId: string, plan: PrunePlanV2): Promise<number> {
  const all = [...plan.remove.checkpoints, ...plan.remove.writes, ...plan.remove.blobs];
  if (all.length + plan.hold.length === 0) return 0;
  await docs.recordPrune(threadId, all, plan.hold);
  if (plan.hold.length > 0) {
    await mongoCall('marking value holders', () => bulkWrite(db.collection<IdDoc>(`${generation}_checkpoints`), plan.hold.map((_id) => ({ updateOne: { filter: { _id }, update: { $set: { pruned: true } } } }))));
  }
  let deleted = 0;
  for (const [kind, list] of [['checkpoints', plan.remove.checkpoints], ['writes', plan.remove.writes], ['blobs', plan.remove.blobs]] as const) {
    for (let i = 0; i < list.length; i += DELETE_CHUNK) {
      const chunk = list.slice(i, i + DELETE_CHUNK);
      const r = await mongoCall(`pruning ${kind}`, () => db.collection<IdDoc>(`${generation}_${kind}`).deleteMany({ _id: { $in: chunk } }));
      deleted += r.deletedCount;
    }
  }
  return deleted;
}
