/**
 * Applies a planned batch (projection/batch.ts) with guarded writes: one unordered
 * `bulkWrite` per collection, all collections in parallel, and a deletion phase first only
 * when the batch deletes a thread.
 *
 * Guards never raise: a newer-wins document is written as a pair — `replaceOne` filtered on
 * "stored position is older" (no upsert) plus `updateOne {$setOnInsert}` with upsert — so
 * whichever runs first, absent → inserted, older → replaced, newer or equal → untouched.
 * (A guarded *upsert* would raise E11000 on a newer document; FerretDB 1.24 stops an
 * unordered bulk at its first error and reports the wrong index, so no errors by design.)
 */
import { MongoBulkWriteError, type AnyBulkWriteOperation, type BulkWriteResult, type Collection, type Document } from 'mongodb';
import type { CheckpointDoc, CollectionKind, Pos, PositionedEvent } from '../projection/documents.ts';
import { comparePos, toPos } from '../projection/documents.ts';
import { planBatch, type BatchOp } from '../projection/batch.ts';
import type { SkipReason } from '../projection/evolve.ts';
import { ids, idRange, type IdKind } from '../projection/ids.ts';
import type { LogPosition } from '../events/types.ts';
import { mongoCall } from './errors.ts';

/** Every projection document has a string `_id`. */
export type IdDoc = Document & { _id: string };
export type Collections = Record<CollectionKind, Collection<IdDoc>>;
type Op = AnyBulkWriteOperation<IdDoc>;

export type EventResult = { applied: true } | { applied: false; reason: SkipReason };

export interface BatchCounts {
  events: number;
  applied: number;
  skipped: Partial<Record<SkipReason, number>>;
  inserted: number;
  replaced: number;
  deleted: number;
}

export interface BatchResult {
  results: EventResult[];
  counts: BatchCounts;
}

export interface ApplyBatchOptions {
  /** record per-partition applied offsets for this topic */
  topic?: string;
  /** positions applied through (default: the highest of the batch per partition), e.g. to cover poison events */
  through?: readonly LogPosition[];
}

/** Stored position older than `pos`. */
export const olderThan = (pos: Pos): Document => ({
  $or: [{ 'pos.partition': { $lt: pos.partition } }, { 'pos.partition': pos.partition, 'pos.offset': { $lt: pos.offset } }],
});

/** Stored head lower than (checkpointId, pos). */
const headBelow = (doc: CheckpointDoc): Document => ({
  $or: [
    { checkpointId: { $lt: doc.checkpointId } },
    { checkpointId: doc.checkpointId, 'pos.partition': { $lt: doc.pos.partition } },
    { checkpointId: doc.checkpointId, 'pos.partition': doc.pos.partition, 'pos.offset': { $lt: doc.pos.offset } },
  ],
});

/** The write pair (or single insert) for one document; `guard` selects a stored doc it may replace. */
function writeOps(doc: IdDoc, guard: Document | undefined): Op[] {
  const { _id, ...rest } = doc;
  const insert: Op = { updateOne: { filter: { _id }, update: { $setOnInsert: rest }, upsert: true } };
  return guard ? [{ replaceOne: { filter: { _id, ...guard }, replacement: rest } }, insert] : [insert];
}

const threadKinds: Array<[CollectionKind, IdKind]> = [
  ['checkpoints', 'cp'],
  ['blobs', 'blob'],
  ['writes', 'w'],
  ['heads', 'head'],
];

/** Deletion as bulk ops per collection: the thread's `_id` ranges, older than `before` when given. */
export function deletionOps(deletions: ReadonlyArray<{ threadId: string; before?: Pos }>): Map<CollectionKind, Op[]> {
  const out = new Map<CollectionKind, Op[]>();
  for (const [kind, prefix] of threadKinds) {
    out.set(
      kind,
      deletions.map((d) => ({ deleteMany: { filter: { _id: idRange(prefix, d.threadId), ...(d.before ? olderThan(d.before) : {}) } } })),
    );
  }
  return out;
}

interface PendingBulk {
  ops: Op[];
  /** per op index: the batch op it writes, and whether it is the insert half */
  owners: Array<{ event: number; insert: boolean }>;
}

export interface BulkOutcome {
  upserted: Set<number>;
  modified: number;
  deleted: number;
}

/**
 * Two appliers upserting the same new `_id` at once can still meet E11000 (FerretDB never
 * retries it, MongoDB only for plain equality filters). Every op here is idempotent, so the
 * whole bulk is simply run again: the loser's inserts are then no-ops.
 */
async function bulkWrite(col: Collection<IdDoc>, ops: Op[]): Promise<BulkOutcome> {
  const out: BulkOutcome = { upserted: new Set(), modified: 0, deleted: 0 };
  const add = (r: BulkWriteResult): void => {
    for (const i of Object.keys(r.upsertedIds)) out.upserted.add(Number(i));
    out.modified += r.modifiedCount;
    out.deleted += r.deletedCount;
  };
  for (let attempt = 1; ; attempt += 1) {
    try {
      add(await col.bulkWrite(ops, { ordered: false }));
      return out;
    } catch (e) {
      const duplicateOnly = e instanceof MongoBulkWriteError && e.writeErrors instanceof Array && e.writeErrors.every((w) => w.code === 11000);
      if (!duplicateOnly || attempt >= 5) throw e;
      add(e.result);
    }
  }
}

export async function runBulks(cols: Collections, bulks: Map<CollectionKind, Op[]>, what: string): Promise<Map<CollectionKind, BulkOutcome>> {
  const entries = [...bulks].filter(([, ops]) => ops.length > 0);
  const results = await Promise.all(entries.map(([kind, ops]) => mongoCall(`${what} (${kind})`, () => bulkWrite(cols[kind], ops))));
  return new Map(entries.map(([kind], i) => [kind, results[i]!]));
}

export async function applyBatch(cols: Collections, events: readonly PositionedEvent[], options: ApplyBatchOptions = {}): Promise<BatchResult> {
  const threads = [...new Set(events.map((e) => e.event.threadId))];
  const stored = threads.length === 0 ? [] : await mongoCall('reading tombstones', () =>
    cols.tombstones.find({ _id: { $in: threads.map((t) => ids.tombstone(t)) } }).toArray());
  const tombstones = new Map(stored.map((d) => [d.threadId as string, d.pos as Pos]));
  const plan = planBatch(events, tombstones);

  let deleted = 0;
  if (plan.deletions.length > 0) {
    const res = await runBulks(cols, deletionOps(plan.deletions), 'deleting threads');
    for (const r of res.values()) deleted += r.deleted;
  }

  const pending = new Map<CollectionKind, PendingBulk>();
  const add = (kind: CollectionKind, ops: Op[], event: number): void => {
    const p = pending.get(kind) ?? { ops: [], owners: [] };
    pending.set(kind, p);
    ops.forEach((op) => {
      p.ops.push(op);
      p.owners.push({ event, insert: 'updateOne' in op });
    });
  };
  for (const { write, event } of plan.ops as BatchOp[]) {
    const guard = write.rule === 'insert-once' ? undefined : write.rule === 'head-order' ? headBelow(write.doc as CheckpointDoc) : olderThan(write.doc.pos);
    add(write.collection, writeOps(write.doc, guard), event);
  }
  if (options.topic !== undefined) {
    for (const pos of throughPositions(events, options.through)) {
      const doc = { _id: ids.offset(options.topic, pos.partition), topic: options.topic, partition: pos.partition, offset: pos.offset };
      add('offsets', writeOps(doc, { offset: { $lt: pos.offset } }), -1);
    }
  }
  // Applied offsets last, not beside the rest: readers use them as the barrier "everything up
  // to here is readable" when Redis watermarks are unavailable (src/store/watermarks.ts).
  const bulkResults = await runBulks(cols, new Map([...pending].filter(([k]) => k !== 'offsets').map(([k, p]) => [k, p.ops])), 'applying a batch');
  const offsetOps = pending.get('offsets')?.ops ?? [];
  if (offsetOps.length > 0) for (const [k, r] of await runBulks(cols, new Map([['offsets', offsetOps]]), 'recording applied offsets')) bulkResults.set(k, r);

  // Upserts are reported per op; replacements only as a count per collection, so an event
  // whose only effect is a replacement counts as applied when its collection replaced anything.
  const applied = new Set<number>(plan.deleting);
  let inserted = 0;
  let replaced = 0;
  for (const [kind, p] of pending) {
    const r = bulkResults.get(kind);
    if (!r) continue;
    inserted += r.upserted.size;
    replaced += r.modified;
    for (const i of r.upserted) applied.add(p.owners[i]!.event);
    if (r.modified > 0) p.owners.forEach((o) => o.insert || applied.add(o.event));
  }
  const results = events.map((_e, i): EventResult => {
    const reason = plan.decided.get(i);
    if (reason) return { applied: false, reason };
    return applied.has(i) ? { applied: true } : { applied: false, reason: 'not-newer' };
  });
  const skipped: BatchCounts['skipped'] = {};
  for (const r of results) if (!r.applied) skipped[r.reason] = (skipped[r.reason] ?? 0) + 1;
  return {
    results,
    counts: { events: events.length, applied: results.filter((r) => r.applied).length, skipped, inserted, replaced, deleted },
  };
}

function throughPositions(events: readonly PositionedEvent[], through: readonly LogPosition[] | undefined): Pos[] {
  const max = new Map<number, Pos>();
  for (const pos of (through ?? events.map((e) => e.position)).map(toPos)) {
    const prev = max.get(pos.partition);
    if (!prev || comparePos(pos, prev) > 0) max.set(pos.partition, pos);
  }
  return [...max.values()];
}
