import { describe, expect, it } from 'vitest';
import { planBatch } from '../../src/projection/batch.ts';
import { comparePos, type Pos, type PositionedEvent, type ProjectionDoc, type TombstoneDoc } from '../../src/projection/documents.ts';
import { evolveDoc } from '../../src/projection/evolve.ts';
import { createMemoryProjection } from '../../src/projection/in-memory.ts';
import { metadataQuery, fromStoredMetadata, toStoredMetadata } from '../../src/projection/metadata.ts';
import { checkpoint, deleted, randomLog, writes } from './fixtures.ts';

/** What a store does with a plan: deletions first, then each op under its rule. */
function applyPlan(store: Map<string, ProjectionDoc>, events: PositionedEvent[]): ReturnType<typeof planBatch> {
  const tombs = new Map<string, Pos>();
  for (const d of store.values()) if (d._id.startsWith('tomb:')) tombs.set((d as TombstoneDoc).threadId, (d as TombstoneDoc).pos);
  const plan = planBatch(events, tombs);
  for (const del of plan.deletions) {
    for (const [id, d] of store) {
      if ('threadId' in d && d.threadId === del.threadId && !id.startsWith('tomb:') && comparePos(d.pos, del.before) < 0) store.delete(id);
    }
  }
  for (const { write } of plan.ops) if (evolveDoc(store.get(write.doc._id), write).applied) store.set(write.doc._id, write.doc);
  return plan;
}

const sorted = (m: Map<string, ProjectionDoc>) => [...m.values()].sort((a, b) => (a._id < b._id ? -1 : 1));

describe('planBatch', () => {
  it('ends where applying evolve one event at a time ends (random batches, redeliveries, deletes)', () => {
    for (let seed = 1; seed <= 300; seed += 1) {
      const { delivery } = randomLog(seed);
      const sequential = createMemoryProjection();
      delivery.forEach((e) => sequential.apply(e));
      const batched = new Map<string, ProjectionDoc>();
      let i = 0;
      let size = 1;
      while (i < delivery.length) {
        applyPlan(batched, delivery.slice(i, i + size));
        i += size;
        size = 1 + ((seed * 7 + i) % 17);
      }
      expect(sorted(batched), `seed ${seed}`).toEqual(sequential.docs());
    }
  });

  it('decides tombstoned, superseded and duplicate events without the store', () => {
    const plan = planBatch(
      [checkpoint('t', 1, 1), checkpoint('t', 1, 1), deleted('t', 2), writes('t', 1, 'a', [[0, 'x', 'y']], 3), deleted('t', 0)],
      new Map(),
    );
    expect([...plan.decided]).toEqual([
      [0, 'tombstoned'],
      [1, 'tombstoned'],
      [4, 'superseded'],
    ]);
    expect(plan.deletions).toEqual([{ threadId: 't', before: { partition: 0, offset: 2 } }]);
    const dup = planBatch([checkpoint('t', 1, 1), checkpoint('t', 1, 1)], new Map());
    expect(dup.decided.get(1)).toBe('duplicate');
    expect(dup.ops).toHaveLength(3);
  });

  it('a stored tombstone hides older events; a delete older than it is a result', () => {
    const plan = planBatch([checkpoint('t', 1, 5), deleted('t', 7), checkpoint('t', 2, 11)], new Map([['t', { partition: 0, offset: 9 }]]));
    expect([...plan.decided]).toEqual([
      [0, 'tombstoned'],
      [1, 'older'],
    ]);
    expect(plan.deletions).toEqual([]);
  });
});

describe('metadata', () => {
  it('round-trips any JSON keys', () => {
    const m = { 'a.b': { $c: ['%', { 'd\u0000': 1 }] }, source: 'loop' };
    expect(fromStoredMetadata(toStoredMetadata(m))).toEqual(m);
  });

  it('filters are equality only: an operator-looking value matches literally', () => {
    expect(metadataQuery({ source: 'loop', 'a.b': { $ne: 1 } })).toEqual({
      'metadata.source': { $eq: 'loop' },
      'metadata.a%2Eb': { $eq: { '%24ne': 1 } },
    });
  });
});
