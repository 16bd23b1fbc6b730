import { describe, expect, it } from 'vitest';
import { planPruneV2, type PruneCheckpointV2, type PruneOwnedV2 } from '../../src/ops/prune-v2.ts';
import type { BlobPartDocV2, CheckpointDocV2, WritesDocV2 } from '../../src/projection/v2/documents.ts';
import { createMemoryProjectionV2, type DocV2 } from '../../src/projection/v2/memory.ts';
import { randomHistory } from '../projection/v2/model.ts';
import { readValues } from '../projection/v2/read.ts';

const inputs = (docs: DocV2[]): { cps: PruneCheckpointV2[]; writes: PruneOwnedV2[]; blobs: PruneOwnedV2[] } => ({
  cps: docs
    .filter((d): d is CheckpointDocV2 => d._id.startsWith('cp:'))
    .map((d) => ({
      _id: d._id,
      checkpointNs: d.checkpointNs,
      checkpointId: d.checkpointId,
      ...(d.parentCheckpointId === undefined ? {} : { parentCheckpointId: d.parentCheckpointId }),
      ts: d.ts,
      pos: d.pos,
      origins: d.origins.map((o) => o.checkpoint),
      bases: d.values.flatMap((v) => (v.kind === 'append' && v.baseCheckpoint !== undefined ? [v.baseCheckpoint] : [])),
    })),
  writes: docs.filter((d): d is WritesDocV2 => d._id.startsWith('w:')),
  blobs: docs.filter((d): d is BlobPartDocV2 => d._id.startsWith('blob:')),
});

describe('prune, layout 2', () => {
  for (const seed of [11, 12, 13]) {
    it(`seed ${seed}: every kept checkpoint still reads its values; holders of them stay, the rest go with their writes`, async () => {
      const model = await randomHistory(seed, { events: 150, threads: 1, fork: 0.1, del: 0, reput: 0.02, big: seed === 13 ? 5 * 1024 * 1024 : 0 });
      const mem = createMemoryProjectionV2();
      mem.applyBatch(model.log.map((e) => ({ ...e, raw: Buffer.from(e.event.eventId) })));
      const before = mem.docs();
      const { cps, writes, blobs } = inputs(before);
      const plan = planPruneV2(cps, writes, blobs, { keep: 2 });
      expect(plan.remove.checkpoints.length).toBeGreaterThan(0);
      expect(plan.keptCheckpoints + plan.valueHolders + plan.remove.checkpoints.length).toBe(cps.length);
      const gone = new Set([...plan.remove.checkpoints, ...plan.remove.writes, ...plan.remove.blobs]);
      const pruned = createMemoryProjectionV2();
      // the same documents, less the removed ones
      pruned.applyBatch(model.log.map((e) => ({ ...e, raw: Buffer.from(e.event.eventId) })));
      for (const id of gone) pruned.remove(id);
      for (const id of plan.hold) pruned.hold(id);
      const left = pruned.docs().filter((d): d is CheckpointDocV2 => d._id.startsWith('cp:') && (d as CheckpointDocV2).pruned !== true);
      expect(left).toHaveLength(plan.keptCheckpoints);
      expect(plan.valueHolders).toBe(plan.hold.length);
      for (const d of left) {
        const want = model.checkpoints.get(`${d.threadId}\u0000${d.checkpointNs}\u0000${d.checkpointId}`)!;
        expect(await readValues(pruned, d.threadId, d.checkpointNs, d.checkpointId)).toEqual(want.values);
      }
      // no writes of a pruned checkpoint and no blob parts of a removed one stay behind
      const idOf = (id: string): string => (before.find((d) => d._id === id) as CheckpointDocV2).checkpointId;
      const removedCps = new Set(plan.remove.checkpoints.map(idOf));
      const prunedCps = new Set([...removedCps, ...plan.hold.map(idOf)]);
      expect(pruned.docs().filter((d) => d._id.startsWith('w:') && prunedCps.has((d as WritesDocV2).checkpointId))).toEqual([]);
      expect(pruned.docs().filter((d) => d._id.startsWith('blob:') && removedCps.has((d as BlobPartDocV2).checkpointId))).toEqual([]);
    });
  }

  it('keeps pending-write leaves and the parents of kept checkpoints; refuses --keep 0', () => {
    const cp = (n: number, parent?: number): PruneCheckpointV2 => ({ _id: `cp:t::${n}`, checkpointNs: '', checkpointId: `1ef0000${n}`, ...(parent === undefined ? {} : { parentCheckpointId: `1ef0000${parent}` }), ts: n, pos: { partition: 0, offset: n }, origins: [`1ef0000${n}`], bases: [] });
    const cps = [cp(1), cp(2, 1), cp(3, 2), cp(4, 2), cp(5, 4)];
    const plan = planPruneV2(cps, [{ _id: 'w:3', checkpointNs: '', checkpointId: '1ef00003' }], [], { keep: 1 });
    // 5 (newest), 4 (its parent), 3 (a leaf with pending writes), 2 (3's parent) stay
    expect(plan.remove.checkpoints).toEqual(['cp:t::1']);
    expect(plan.hold).toEqual([]);
    expect(() => planPruneV2(cps, [], [], { keep: 0 })).toThrow(/--keep/);
  });
});
