/**
 * MongoDB side of `threadlog prune`: the thread's documents in the shapes ops/prune.ts plans
 * with (`_id` prefix ranges, only the fields needed), and removal by exact `_id` lists. The
 * removed `_id`s are recorded (chain-store prune markers) BEFORE anything is deleted, so an
 * audit never meets an unexplained gap.
 */
import type { Db } from 'mongodb';
import type { PruneBlob, PruneCheckpoint, PrunePlan, PruneWrite } from '../ops/prune.ts';
import { idRange } from '../projection/ids.ts';
import type { IdDoc } from './apply.ts';
import type { ChainStore } from './chain-store.ts';
import { mongoCall } from './errors.ts';

const DELETE_CHUNK = 1_000;

export async function readPruneInputs(db: Db, generation: string, threadId: string): Promise<{ cps: PruneCheckpoint[]; writes: PruneWrite[]; blobs: PruneBlob[] }> {
  const col = (k: string) => db.collection<IdDoc>(`${generation}_${k}`);
  const [cps, writes, blobs] = await mongoCall('reading the thread for a prune', () =>
    Promise.all([
      col('checkpoints').find({ _id: idRange('cp', threadId) }, { projection: { checkpointNs: 1, checkpointId: 1, parentCheckpointId: 1, checkpoint: 1, ts: 1, pos: 1 } }).toArray(),
      col('writes').find({ _id: idRange('w', threadId) }, { projection: { checkpointNs: 1, checkpointId: 1, channel: 1 } }).toArray(),
      col('blobs').find({ _id: idRange('blob', threadId) }, { projection: { checkpointNs: 1, channel: 1, version: 1, base: 1, pos: 1 } }).toArray(),
    ]),
  );
  return {
    cps: cps.map((d) => ({
      _id: d._id,
      checkpointNs: d.checkpointNs as string,
      checkpointId: d.checkpointId as string,
      ...(d.parentCheckpointId ? { parentCheckpointId: d.parentCheckpointId as string } : {}),
      channelVersions: (JSON.parse(d.checkpoint as string) as { channel_versions: PruneCheckpoint['channelVersions'] }).channel_versions ?? {},
      ts: d.ts as number,
      pos: d.pos as PruneCheckpoint['pos'],
    })),
    writes: writes as unknown as PruneWrite[],
    blobs: blobs as unknown as PruneBlob[],
  };
}

export async function applyPrune(db: Db, generation: string, chains: ChainStore, threadId: string, plan: PrunePlan): Promise<number> {
  const all = [...plan.remove.checkpoints, ...plan.remove.writes, ...plan.remove.blobs];
  if (all.length === 0) return 0;
  await chains.recordPrune(threadId, all);
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
