/**
 * Layout 2 against the model (model.ts): random histories — forks, re-puts, deletes, writes
 * of every kind, two namespaces — delivered in random batches with redeliveries (a consumer
 * restarting from an older committed offset) must
 * 1. end in exactly the documents one batch of the whole log gives (so a crashed and resumed
 *    projector equals one built from scratch), and
 * 2. read back, through origins and skip-delta bases by exact `_id`, what the model says for
 *    every visible checkpoint: values and pending writes; each lane's head is its newest id;
 *    nothing hidden by a delete is readable, and nothing of an erased thread, however late.
 */
import { describe, expect, it } from 'vitest';
import type { CheckpointDocV2, HeadDocV2, WritesDocV2 } from '../../../src/projection/v2/documents.ts';
import { createMemoryProjectionV2, type MemoryProjectionV2 } from '../../../src/projection/v2/memory.ts';
import type { ChainedEvent } from '../../../src/projection/v2/plan.ts';
import { mergeWrites } from '../../../src/projection/v2/writes.ts';
import { rng } from '../fixtures.ts';
import { cpKey, randomHistory, serializer, type Model } from './model.ts';
import { readValues } from './read.ts';

const chained = (m: Model): ChainedEvent[] => m.log.map((e) => ({ ...e, raw: Buffer.from(`${e.event.eventId}:${e.position.offset}`) }));

/** batches of 1..maxBatch consecutive events; now and then a restart from an earlier offset */
function deliveries(events: readonly ChainedEvent[], seed: number, maxBatch: number): ChainedEvent[][] {
  const r = rng(seed);
  const out: ChainedEvent[][] = [];
  for (let at = 0; at < events.length; ) {
    const size = 1 + Math.floor(r() * maxBatch);
    out.push(events.slice(at, at + size));
    at += size;
    if (r() < 0.15) at = Math.max(0, at - 1 - Math.floor(r() * 2 * maxBatch));
  }
  return out;
}

async function expectReadsMatch(mem: MemoryProjectionV2, model: Model): Promise<void> {
  const cps = mem.docs().filter((d): d is CheckpointDocV2 => d._id.startsWith('cp:'));
  expect(cps.map((d) => cpKey(d.threadId, d.checkpointNs, d.checkpointId)).sort()).toEqual([...model.checkpoints.keys()].sort());
  const newest = new Map<string, string>();
  for (const c of model.checkpoints.values()) {
    expect(await readValues(mem, c.threadId, c.ns, c.checkpointId), c.checkpointId).toEqual(c.values);
    const lane = `${c.threadId}\u0000${c.ns}`;
    if ((newest.get(lane) ?? '') < c.checkpointId) newest.set(lane, c.checkpointId);
    const docs = mem.docs().filter((d): d is WritesDocV2 => d._id.startsWith('w:') && (d as WritesDocV2).threadId === c.threadId && (d as WritesDocV2).checkpointNs === c.ns && (d as WritesDocV2).checkpointId === c.checkpointId);
    const merged = await Promise.all(mergeWrites(docs).map(async (w) => ({ taskId: w.taskId, idx: w.idx, channel: w.channel, value: await serializer.loadsTyped(w.value.type, w.value.value) })));
    expect(merged, `writes of ${c.checkpointId}`).toEqual(model.writes.get(cpKey(c.threadId, c.ns, c.checkpointId)) ?? []);
  }
  for (const d of mem.docs().filter((x): x is HeadDocV2 => x._id.startsWith('head:'))) {
    expect(d.head?.checkpointId, d._id).toBe(newest.get(`${d.threadId}\u0000${d.checkpointNs}`));
  }
}

describe('layout 2 against the model', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`seed ${seed}: random batches and redeliveries end in the one-batch documents, and read as the model says`, async () => {
      const model = await randomHistory(seed, { events: 200, threads: seed % 2 === 0 ? 1 : 3, fork: 0.08, del: 0.02, reput: 0.03 });
      const events = chained(model);
      const whole = createMemoryProjectionV2();
      expect(whole.applyBatch(events).missing).toEqual([]);
      await expectReadsMatch(whole, model);
      for (const maxBatch of [1, 4, 16]) {
        const mem = createMemoryProjectionV2();
        for (const batch of deliveries(events, seed * 31 + maxBatch, maxBatch)) expect(mem.applyBatch(batch).missing).toEqual([]);
        expect(mem.docs(), `batches of up to ${maxBatch}`).toEqual(whole.docs());
      }
      // a restart far back: the second batch starts with events applied before (their values
      // and checkpoints are bases and parents of the new ones after them)
      const cut = Math.floor(events.length * 0.6);
      const resumed = createMemoryProjectionV2();
      for (let at = 0; at < cut; at += 4) expect(resumed.applyBatch(events.slice(at, Math.min(cut, at + 4))).missing).toEqual([]);
      expect(resumed.applyBatch(events.slice(Math.floor(events.length * 0.3))).missing).toEqual([]);
      expect(resumed.docs(), 'resumed from 30 %').toEqual(whole.docs());
    });
  }

  for (const seed of [11, 12, 13, 14]) {
    it(`seed ${seed}: erasures (with late events after them) — same documents whatever the batches, nothing of an erased thread readable`, async () => {
      const model = await randomHistory(seed, { events: 200, threads: 3, fork: 0.05, del: 0.02, reput: 0.02, erase: 0.03 });
      const events = chained(model);
      const erasedThreads = new Set(model.log.filter((e) => e.event.type === 'thread-erased').map((e) => e.event.threadId));
      expect(erasedThreads.size, 'the history erases a thread').toBeGreaterThan(0);
      const whole = createMemoryProjectionV2();
      whole.applyBatch(events);
      await expectReadsMatch(whole, model);
      for (const t of erasedThreads) {
        const left = whole.docs().filter((d) => (d as { threadId?: string }).threadId === t && !d._id.startsWith('head:') && !d._id.startsWith('tomb:'));
        expect(left, `documents of erased thread ${t}`).toEqual([]);
        expect(whole.docs().filter((d) => d._id.startsWith('head:') && (d as HeadDocV2).threadId === t && (d as HeadDocV2).head !== undefined)).toEqual([]);
      }
      for (const maxBatch of [1, 5, 17]) {
        const mem = createMemoryProjectionV2();
        for (const batch of deliveries(events, seed * 7 + maxBatch, maxBatch)) mem.applyBatch(batch);
        expect(mem.docs(), `batches of up to ${maxBatch}`).toEqual(whole.docs());
      }
    });
  }

  it('a value too large for one document spills to blob parts and reads back, also in batches', async () => {
    const model = await randomHistory(99, { events: 60, big: 5 * 1024 * 1024, threads: 1 });
    const events = chained(model);
    const whole = createMemoryProjectionV2();
    whole.applyBatch(events);
    await expectReadsMatch(whole, model);
    const mem = createMemoryProjectionV2();
    for (const batch of deliveries(events, 5, 3)) mem.applyBatch(batch);
    expect(mem.docs()).toEqual(whole.docs());
  });
});
