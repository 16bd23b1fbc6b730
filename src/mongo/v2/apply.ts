/**
 * Applies a batch in projection layout 2 (projection/v2/plan.ts). Round trips: one read of
 * what this applier does not remember (lane heads, tombstones; then parents and delta bases
 * the plan asks for), a deletion phase only when the batch deletes a thread, then in
 * parallel one `insert` per collection of the batch's new documents (checkpoints, writes,
 * blob parts), and last the heads and tombstones — each replaced under the chain position it
 * was planned from — beside the applied offsets. So a saver-level step costs three document
 * writes: its checkpoint, its writes, and its share of one head per thread per batch.
 *
 * A head that another applier moved meanwhile (a rebalance overlap) makes its replacement
 * match nothing: the batch is planned again from what is stored (every write is idempotent).
 */
import type { Collection, Document } from 'mongodb';
import { isThreadEnd, type LogPosition } from '../../events/types.ts';
import { ThreadlogError } from '../../errors.ts';
import { comparePos, toPos, type Pos, type PositionedEvent } from '../../projection/documents.ts';
import { ids, idRange } from '../../projection/ids.ts';
import type { CheckpointDocV2, HeadDocV2, LaneChain, TombstoneDocV2 } from '../../projection/v2/documents.ts';
import { infoOfDoc, lookupsFor, planBatchV2, type ChainedEvent, type CheckpointInfo, type KnownState, type MissingBase, type PlanV2 } from '../../projection/v2/plan.ts';
import { bulkWrite, insertOnce, olderThan, type BatchCounts, type BatchResult, type EventResult, type IdDoc } from '../apply.ts';
import type { ApplyBatchOptions } from '../apply.ts';
import { mongoCall } from '../errors.ts';
import type { IdLookup } from '../lookup.ts';
import type { ApplyStateV2 } from './apply-state.ts';

export interface CollectionsV2 {
  checkpoints: Collection<IdDoc>;
  writes: Collection<IdDoc>;
  blobs: Collection<IdDoc>;
  heads: Collection<IdDoc>;
  tombstones: Collection<IdDoc>;
  offsets: Collection<IdDoc>;
}

export type BatchResultV2 = BatchResult & { missingBases: MissingBase[] };

const MAX_PLAN_ATTEMPTS = 5;

const chainAt = (expected: Pos | null): Document =>
  expected === null ? {} : { 'chain.last.partition': expected.partition, 'chain.last.offset': expected.offset };

function throughPositions(events: readonly PositionedEvent[], through: readonly LogPosition[] | undefined): Pos[] {
  const max = new Map<number, Pos>();
  for (const pos of (through ?? events.map((e) => e.position)).map(toPos)) {
    const prev = max.get(pos.partition);
    if (!prev || comparePos(pos, prev) > 0) max.set(pos.partition, pos);
  }
  return [...max.values()];
}

export async function applyBatchV2(cols: CollectionsV2, events: readonly PositionedEvent[], options: ApplyBatchOptions, lookup: IdLookup, state: ApplyStateV2): Promise<BatchResultV2> {
  for (const e of events) {
    if (e.raw === undefined) throw new ThreadlogError('invalid-options', 'layout 2 chains every event: pass its stored bytes (raw)');
  }
  const chained = events as readonly ChainedEvent[];
  const threads = [...new Set(events.map((e) => e.event.threadId))];
  const lanes = [...new Map(events.filter((e) => !isThreadEnd(e.event)).map((e) => {
    const ev = e.event as { threadId: string; checkpointNs: string };
    return [JSON.stringify([ev.threadId, ev.checkpointNs]), [ev.threadId, ev.checkpointNs] as const];
  })).values()];
  for (let attempt = 1; ; attempt++) {
    try {
      return await applyOnce(cols, chained, options, lookup, state, threads, lanes);
    } catch (e) {
      // some of the batch may be written: what this applier believes of its threads may be wrong
      state.forget(threads);
      if (!(e instanceof HeadMoved) || attempt >= MAX_PLAN_ATTEMPTS) throw e instanceof HeadMoved ? new ThreadlogError('mongo-unavailable', `${e.message} ${attempt} times in a row`, { retriable: true }) : e;
    }
  }
}

/** another applier changed a head or tombstone since it was read */
class HeadMoved extends Error {}

async function applyOnce(
  cols: CollectionsV2,
  events: readonly ChainedEvent[],
  options: ApplyBatchOptions,
  lookup: IdLookup,
  state: ApplyStateV2,
  threads: string[],
  lanes: ReadonlyArray<readonly [string, string]>,
): Promise<BatchResultV2> {
  // 1. what is stored, unless remembered
  const headsToRead = lanes.filter(([t, ns]) => state.head(t, ns) === undefined);
  const tombsToRead = threads.filter((t) => state.tombstone(t) === undefined);
  const [storedHeads, storedTombs] = await Promise.all([
    headsToRead.length === 0 ? [] : mongoCall('reading heads', () => lookup(cols.heads, headsToRead.map(([t, ns]) => ids.head(t, ns)))),
    tombsToRead.length === 0 ? [] : mongoCall('reading tombstones', () => lookup(cols.tombstones, tombsToRead.map((t) => ids.tombstone(t)))),
  ]);
  const heads = new Map<string, HeadDocV2 | null>();
  for (const [t, ns] of lanes) heads.set(ids.head(t, ns), state.head(t, ns) ?? null);
  for (const d of storedHeads) heads.set(d._id, d as unknown as HeadDocV2);
  const tombs = new Map<string, TombstoneDocV2 | null>();
  for (const t of threads) tombs.set(t, state.tombstone(t) ?? null);
  for (const d of storedTombs) tombs.set(d.threadId as string, d as unknown as TombstoneDocV2);
  const checkpoints = new Map<string, CheckpointInfo>();
  const known: KnownState = {
    tombstone: (t) => tombs.get(t)?.pos ?? undefined,
    tombstoneChain: (t) => tombs.get(t)?.chain ?? undefined,
    erased: (t) => tombs.get(t)?.erased ?? undefined,
    head: (t, ns) => heads.get(ids.head(t, ns)) ?? undefined,
    checkpoint: (t, ns, id) => checkpoints.get(ids.checkpoint(t, ns, id)) ?? state.checkpoint(t, ns, id),
    recent: (t, ns, channel, version) => state.recent(t, ns, channel, version),
  };
  // 2. parents and delta bases the plan needs
  const wanted = lookupsFor(events, known);
  if (wanted.length > 0) {
    const docs = await mongoCall('reading parent checkpoints', () => lookup(cols.checkpoints, wanted.map((w) => ids.checkpoint(w.threadId, w.checkpointNs, w.checkpointId))));
    for (const d of docs) checkpoints.set(d._id, infoOfDoc(d as unknown as CheckpointDocV2));
  }
  const plan = planBatchV2(events, known);

  // 3. deletions first: a reused thread id's new documents must not be deleted after they are written
  let deleted = 0;
  if (plan.deletions.length > 0) {
    const results = await Promise.all(
      plan.deletions.flatMap(({ threadId, before }) => [
        ...(['checkpoints', 'writes', 'blobs'] as const).map((kind) =>
          mongoCall(`deleting a thread (${kind})`, () => cols[kind].deleteMany({ _id: idRange(kind === 'checkpoints' ? 'cp' : kind === 'writes' ? 'w' : 'blob', threadId), ...olderThan(before) })).then((r) => r.deletedCount),
        ),
        // heads keep their lane's chain (the audit verifies every event), not the checkpoint
        mongoCall('deleting a thread (heads)', () =>
          cols.heads.updateMany({ _id: idRange('head', threadId), $or: [{ 'head.pos.partition': { $lt: before.partition } }, { 'head.pos.partition': before.partition, 'head.pos.offset': { $lt: before.offset } }] }, { $unset: { head: '' } }),
        ).then((r) => r.modifiedCount),
      ]),
    );
    deleted = results.reduce((a, b) => a + b, 0);
  }

  // 4. the batch's documents
  const guardedNewer = plan.checkpoints.map(({ doc }) => olderThan(doc.pos));
  const [cpApplied] = await Promise.all([
    plan.checkpoints.length === 0 ? new Set<number>() : mongoCall('applying a batch (checkpoints)', () => insertOnce(cols.checkpoints, plan.checkpoints.map((c) => c.doc as unknown as IdDoc), guardedNewer)),
    plan.writes.length === 0 ? undefined : mongoCall('applying a batch (writes)', () => insertOnce(cols.writes, plan.writes.map((w) => w.doc as unknown as IdDoc))),
    plan.blobs.length === 0 ? undefined : mongoCall('applying a batch (blobs)', () => insertOnce(cols.blobs, plan.blobs as unknown as IdDoc[])),
  ]);

  // 5. heads and tombstones under the position they were planned from, beside the offsets
  await Promise.all([
    replaceAt(cols.heads, plan.heads, lookup, 'advancing heads'),
    replaceAt(cols.tombstones, plan.tombstones, lookup, 'advancing tombstones'),
  ]);
  let offsetDocs = 0;
  if (options.topic !== undefined) {
    const topic = options.topic;
    const positions = throughPositions(events, options.through);
    offsetDocs = positions.length;
    const fresh = positions.filter((pos) => !state.offsetKnown(topic, pos.partition));
    // Applied offsets last: readers use them as the barrier "everything up to here is
    // readable" when Redis watermarks are unavailable (src/store/watermarks.ts). A partition
    // seen for the first time gets its document first, then every one moves forward only.
    if (fresh.length > 0) {
      await mongoCall('recording applied offsets', () =>
        bulkWrite(cols.offsets, fresh.map((pos) => ({ updateOne: { filter: { _id: ids.offset(topic, pos.partition) }, update: { $setOnInsert: { topic, partition: pos.partition, offset: pos.offset } }, upsert: true } }))),
      );
    }
    await mongoCall('recording applied offsets', () =>
      bulkWrite(cols.offsets, positions.map((pos) => ({ updateOne: { filter: { _id: ids.offset(topic, pos.partition), offset: { $lt: pos.offset } }, update: { $set: { offset: pos.offset } } } }))),
    );
    for (const pos of positions) state.setOffsetKnown(topic, pos.partition);
  }

  remember(state, plan, lanes, heads, tombs);
  return resultOf(events, plan, cpApplied, deleted, offsetDocs);
}

/**
 * Replaces (or inserts) documents whose stored chain ends at `expected`, in bounded bulks
 * (one guarded replacement per lane). One that matched nothing is looked at: already at or
 * past the planned position is a redelivery of what was written (fine); anything else was
 * moved by another applier meanwhile (HeadMoved: the caller plans the batch again).
 */
async function replaceAt(col: Collection<IdDoc>, items: ReadonlyArray<{ doc: { _id: string; chain?: LaneChain }; expected: Pos | null }>, lookup: IdLookup, what: string): Promise<void> {
  if (items.length === 0) return;
  const fresh = items.filter((i) => i.expected === null);
  const existing = items.filter((i) => i.expected !== null);
  const unsure: Array<{ _id: string; chain?: LaneChain }> = [];
  await Promise.all([
    fresh.length === 0
      ? undefined
      : mongoCall(what, () => insertOnce(col, fresh.map((i) => i.doc as unknown as IdDoc))).then((applied) => {
          fresh.forEach((i, n) => applied.has(n) || unsure.push(i.doc));
        }),
    existing.length === 0
      ? undefined
      : mongoCall(what, () =>
          bulkWrite(
            col,
            existing.map(({ doc, expected }) => {
              const { _id, ...rest } = doc;
              return { replaceOne: { filter: { _id, ...chainAt(expected) }, replacement: rest } };
            }),
          ),
        ).then((r) => {
          if (r.matched < existing.length) unsure.push(...existing.map((i) => i.doc));
        }),
  ]);
  if (unsure.length === 0) return;
  const stored = new Map((await mongoCall(what, () => lookup(col, unsure.map((d) => d._id)))).map((d) => [d._id, (d as { chain?: LaneChain }).chain?.last]));
  for (const d of unsure) {
    const last = stored.get(d._id);
    const mine = d.chain?.last;
    if (last === undefined || mine === undefined || comparePos(last, mine) < 0) throw new HeadMoved(`${what}: ${d._id} moved meanwhile`);
  }
}

/** What MongoDB holds now, for the next batches (apply-state.ts says why that is safe). */
function remember(state: ApplyStateV2, plan: PlanV2, lanes: ReadonlyArray<readonly [string, string]>, heads: Map<string, HeadDocV2 | null>, tombs: Map<string, TombstoneDocV2 | null>): void {
  // a deleted thread's other lanes lost their heads, and its older documents are gone
  for (const { threadId } of plan.deletions) state.forget([threadId]);
  for (const [t, tomb] of tombs) state.setTombstone(t, tomb);
  for (const [t, ns] of lanes) state.setHead(t, ns, heads.get(ids.head(t, ns)) ?? null);
  for (const { doc } of plan.tombstones) state.setTombstone(doc.threadId, doc);
  for (const { doc } of plan.heads) state.setHead(doc.threadId, doc.checkpointNs, doc);
  for (const { doc } of plan.checkpoints) {
    state.setCheckpoint(doc.threadId, doc.checkpointNs, infoOfDoc(doc));
    for (const v of doc.values) state.setRecent(doc.threadId, doc.checkpointNs, v.channel, v.version, doc.checkpointId);
  }
}

function resultOf(events: readonly ChainedEvent[], plan: PlanV2, cpApplied: Set<number>, deleted: number, offsetDocs: number): BatchResultV2 {
  const cpIndex = new Map(plan.checkpoints.map((c, i) => [c.event, i]));
  const results = events.map((_e, i): EventResult => {
    const reason = plan.decided.get(i);
    if (reason) return { applied: false, reason };
    const c = cpIndex.get(i);
    if (c !== undefined && !cpApplied.has(c)) return { applied: false, reason: 'not-newer' };
    return { applied: true };
  });
  const skipped: BatchCounts['skipped'] = {};
  for (const r of results) if (!r.applied) skipped[r.reason] = (skipped[r.reason] ?? 0) + 1;
  return {
    results,
    counts: {
      events: events.length,
      applied: results.filter((r) => r.applied).length,
      skipped,
      // the work done: new documents, and existing ones replaced under a guard (a lane's head
      // or a tombstone once per batch, each partition's applied offset)
      inserted: plan.checkpoints.length + plan.writes.length + plan.blobs.length + [...plan.heads, ...plan.tombstones].filter((h) => h.expected === null).length,
      replaced: [...plan.heads, ...plan.tombstones].filter((h) => h.expected !== null).length + offsetDocs,
      deleted,
    },
    missingBases: plan.missing,
  };
}
