/**
 * Applies a planned batch (projection/batch.ts) with guarded writes. Round trips: one read of
 * the batch's tombstones; a deletion phase only when the batch deletes a thread; then per
 * collection, all in parallel, one `insert` of its new documents (checkpoints, blobs, writes)
 * plus one unordered `bulkWrite` of guarded replacements and upserts (heads, tombstones,
 * special writes, re-puts); applied offsets last.
 *
 * No guarded *upserts*: one that meets a newer document raises E11000, and FerretDB 1.24
 * stops an unordered bulk at its first error and reports the wrong index (tested).
 */
import { MongoBulkWriteError, type AnyBulkWriteOperation, type BulkWriteResult, type Collection, type Document } from 'mongodb';
import type { CheckpointDoc, CollectionKind, Pos, PositionedEvent } from '../projection/documents.ts';
import { comparePos, toPos } from '../projection/documents.ts';
import { planBatch, type BatchOp } from '../projection/batch.ts';
import type { SkipReason } from '../projection/evolve.ts';
import { ids, idRange, type IdKind } from '../projection/ids.ts';
import { chainIds, planChains, type ChainDoc, type ChainPlan } from '../projection/chain.ts';
import type { ChannelVersion, LogPosition } from '../events/types.ts';
import type { ApplyState } from './apply-state.ts';
import { mongoCall } from './errors.ts';
import { idLookup, type IdLookup } from './lookup.ts';

/** Every projection document has a string `_id`. */
export type IdDoc = Document & { _id: string };
export type Collections = Record<CollectionKind, Collection<IdDoc>> & {
  /** hash chains (projection/chain.ts); absent: events are not chained */
  chains?: Collection<IdDoc>;
};
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
  /**
   * layout 2: appends whose base the applier could not find (it resolves every base); layout 1
   * leaves this to the projector's own check (projector/missing-bases.ts)
   */
  missingBases?: Array<{ event: number; threadId: string; checkpointNs: string; checkpointId: string; channel: string; version: ChannelVersion; base: ChannelVersion }>;
}

export interface ApplyBatchOptions {
  /** record per-partition applied offsets for this topic */
  topic?: string;
  /** positions applied through (default: the highest of the batch per partition), e.g. to cover poison events */
  through?: readonly LogPosition[];
  /** never combined with other partitions' batches (src/projector/coalesce.ts): a lone retry */
  alone?: boolean;
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

/** A collection's share of a batch; `*Owners[i]` is the index of the event op i writes for. */
interface PendingWrites {
  replaces: Op[];
  replaceOwners: number[];
  inserts: IdDoc[];
  insertOwners: number[];
  /** per insert: the guard under which it replaces a stored document (none: insert-once) */
  insertGuards: Array<Document | undefined>;
}

export interface BulkOutcome {
  upserted: Set<number>;
  matched: number;
  modified: number;
  deleted: number;
}

/**
 * FerretDB 1.24 on PostgreSQL holds one pooled connection per update of a command until the
 * command ends, so commands whose updates together exceed its pool deadlock the whole server
 * (seen here: every connection idle-but-held, even `ping` hanging). Keep each command small
 * and the updates in flight per process bounded; on MongoDB this only splits large bulks.
 */
const MAX_OPS_PER_COMMAND = 32;
const MAX_OPS_IN_FLIGHT = 128;
let opsInFlight = 0;
const budgetWaiters: Array<() => void> = [];

async function withOpBudget<T>(n: number, fn: () => Promise<T>): Promise<T> {
  while (opsInFlight > 0 && opsInFlight + n > MAX_OPS_IN_FLIGHT) await new Promise<void>((r) => budgetWaiters.push(r));
  opsInFlight += n;
  try {
    return await fn();
  } finally {
    opsInFlight -= n;
    for (const wake of budgetWaiters.splice(0)) wake();
  }
}

/**
 * Two appliers upserting the same new `_id` at once can still meet E11000 (FerretDB never
 * retries it, MongoDB only for plain equality filters). Every op here is idempotent, so the
 * command is simply run again: the loser's inserts are then no-ops.
 */
export async function bulkWrite(col: Collection<IdDoc>, ops: Op[]): Promise<BulkOutcome> {
  const out: BulkOutcome = { upserted: new Set(), matched: 0, modified: 0, deleted: 0 };
  const add = (start: number, r: BulkWriteResult): void => {
    for (const i of Object.keys(r.upsertedIds)) out.upserted.add(start + Number(i));
    out.matched += r.matchedCount;
    out.modified += r.modifiedCount;
    out.deleted += r.deletedCount;
  };
  // the commands of one bulk run side by side (each op is idempotent and guarded, so their
  // order does not matter); the op budget bounds what is in flight
  const starts: number[] = [];
  for (let start = 0; start < ops.length; start += MAX_OPS_PER_COMMAND) starts.push(start);
  await Promise.all(
    starts.map(async (start) => {
      const chunk = ops.slice(start, start + MAX_OPS_PER_COMMAND);
      for (let attempt = 1; ; attempt += 1) {
        try {
          add(start, await withOpBudget(chunk.length, () => col.bulkWrite(chunk, { ordered: false })));
          return;
        } catch (e) {
          if (!isDuplicateOnly(e) || attempt >= 5) throw e;
          add(start, e.result);
        }
      }
    }),
  );
  return out;
}

/** Heads, offsets and tombstones are rewritten in place; the rest are mostly new documents. */
const mostlyExisting = new Set<CollectionKind>(['heads', 'offsets', 'tombstones']);

const isDuplicateOnly = (e: unknown): e is MongoBulkWriteError =>
  e instanceof MongoBulkWriteError && Array.isArray(e.writeErrors) && e.writeErrors.every((w) => w.code === 11000);

/**
 * Inserts in one `insert` command: FerretDB runs it as one transaction, where each upsert is
 * its own (measured: ~100x). When some already exist (a redelivery, or a re-put of a
 * checkpoint id), all are re-run as idempotent `$setOnInsert` upserts, each followed by its
 * guarded replacement if it has a guard: FerretDB stops at the first error and misreports its
 * index, so the failed command says nothing reliable about the others. Returns the indexes
 * known applied (after a fallback, docs the failed command inserted are not counted; any
 * replacement counts every guarded doc, since bulk results only count replacements).
 */
export async function insertOnce(col: Collection<IdDoc>, docs: IdDoc[], guards: ReadonlyArray<Document | undefined> = []): Promise<Set<number>> {
  try {
    await col.insertMany(docs, { ordered: false });
    return new Set(docs.keys());
  } catch (e) {
    if (!isDuplicateOnly(e)) throw e;
    const ops: Op[] = [];
    const owner: number[] = [];
    docs.forEach(({ _id, ...rest }, i) => {
      ops.push({ updateOne: { filter: { _id }, update: { $setOnInsert: rest }, upsert: true } });
      owner.push(i);
      const guard = guards[i];
      if (guard !== undefined) {
        ops.push({ replaceOne: { filter: { _id, ...guard }, replacement: rest } });
        owner.push(i);
      }
    });
    const res = await bulkWrite(col, ops);
    const applied = new Set([...res.upserted].map((i) => owner[i]!));
    if (res.modified > 0) guards.forEach((g, i) => g !== undefined && applied.add(i));
    return applied;
  }
}

/**
 * Documents are inserted (one command); a guarded one (newer-wins) replaces a stored older
 * one only when its insert met an existing `_id` — nearly always it is new, and a guarded
 * replacement costs a lookup per document. Heads and the like (mostly existing) go as guarded
 * replacements plus `$setOnInsert` upserts in one bulk: absent → inserted, older → replaced,
 * newer or equal → untouched, in either order.
 */
async function writeCollection(col: Collection<IdDoc>, p: PendingWrites): Promise<{ applied: Set<number>; inserted: number; modified: number }> {
  const [replaced, inserted] = await Promise.all([
    p.replaces.length > 0 ? bulkWrite(col, p.replaces) : undefined,
    p.inserts.length > 0 ? insertOnce(col, p.inserts, p.insertGuards) : new Set<number>(),
  ]);
  const applied = new Set([...inserted].map((i) => p.insertOwners[i]!));
  for (const i of replaced?.upserted ?? []) applied.add(p.replaceOwners[i]!);
  // replacements are only counted per command: any replacement marks all candidates applied
  if (replaced && replaced.modified > 0) p.replaceOwners.forEach((e, i) => 'replaceOne' in p.replaces[i]! && applied.add(e));
  return { applied, inserted: inserted.size + (replaced?.upserted.size ?? 0), modified: replaced?.modified ?? 0 };
}

async function writeAll(cols: Collections, pending: Map<CollectionKind, PendingWrites>, what: string) {
  const entries = [...pending];
  const out = await Promise.all(entries.map(([kind, p]) => mongoCall(`${what} (${kind})`, () => writeCollection(cols[kind], p))));
  return out;
}

export async function runBulks(cols: Collections, bulks: Map<CollectionKind, Op[]>, what: string): Promise<Map<CollectionKind, BulkOutcome>> {
  const entries = [...bulks].filter(([, ops]) => ops.length > 0);
  const results = await Promise.all(entries.map(([kind, ops]) => mongoCall(`${what} (${kind})`, () => bulkWrite(cols[kind], ops))));
  return new Map(entries.map(([kind], i) => [kind, results[i]!]));
}

/** How an applier reads what it must know before a batch (src/mongo/lookup.ts, apply-state.ts). */
export interface ApplyContext {
  /** default: one `$in` query */
  lookup?: IdLookup;
  /** tombstones, chain heads and existing documents known from earlier batches; absent: read or upsert them every batch */
  state?: ApplyState;
}

const inLookup = idLookup('in');

export async function applyBatch(cols: Collections, events: readonly PositionedEvent[], options: ApplyBatchOptions = {}, ctx: ApplyContext = {}): Promise<BatchResult> {
  const { lookup = inLookup, state } = ctx;
  const threads = [...new Set(events.map((e) => e.event.threadId))];
  const chainCol = cols.chains;
  const chained = chainCol === undefined ? [] : [...new Set(events.filter((e) => e.raw !== undefined).map((e) => e.event.threadId))];
  try {
    return await applyKnowing(cols, events, options, lookup, state, threads, chained);
  } catch (e) {
    // some of the batch may be written: what this applier believes of its threads may be wrong
    state?.forget([...threads, ...chained]);
    throw e;
  }
}

async function applyKnowing(
  cols: Collections,
  events: readonly PositionedEvent[],
  options: ApplyBatchOptions,
  lookup: IdLookup,
  state: ApplyState | undefined,
  threads: string[],
  chained: string[],
): Promise<BatchResult> {
  const chainCol = cols.chains;
  const tombsToRead = threads.filter((t) => state?.tombstone(t) === undefined);
  const chainsToRead = chained.filter((t) => state?.chain(t) === undefined);
  // chain heads are read beside the tombstones: no extra round trip
  const [stored, storedChains] = await Promise.all([
    tombsToRead.length === 0 ? [] : mongoCall('reading tombstones', () => lookup(cols.tombstones, tombsToRead.map((t) => ids.tombstone(t)))),
    chainsToRead.length === 0 ? [] : mongoCall('reading hash chains', () => lookup(chainCol!, chainsToRead.map((t) => chainIds.chain(t)))),
  ]);
  const tombstones = new Map<string, Pos>();
  for (const t of threads) {
    const known = state?.tombstone(t);
    if (known) tombstones.set(t, known);
  }
  for (const d of stored) tombstones.set(d.threadId as string, d.pos as Pos);
  const chainHeads = new Map<string, ChainDoc>();
  for (const t of chained) {
    const known = state?.chain(t);
    if (known) chainHeads.set(t, known);
  }
  for (const d of storedChains) chainHeads.set(d.threadId as string, d as unknown as ChainDoc);
  const plan = planBatch(events, tombstones);
  const chains = planChains(events, chainHeads);

  let deleted = 0;
  if (plan.deletions.length > 0) {
    const res = await runBulks(cols, deletionOps(plan.deletions), 'deleting threads');
    for (const r of res.values()) deleted += r.deleted;
  }

  const pending = new Map<CollectionKind, PendingWrites>();
  // documents this applier knows exist (apply-state.ts), unless the batch deletes their thread
  const deletedNow = new Set(plan.deletions.map((d) => d.threadId));
  const ownerThread = (doc: IdDoc): string => (typeof doc.threadId === 'string' ? doc.threadId : '');
  const known = (doc: IdDoc): boolean => state !== undefined && !deletedNow.has(ownerThread(doc)) && state.exists(ownerThread(doc), doc._id);
  const written: IdDoc[] = [];
  const add = (kind: CollectionKind, doc: IdDoc, guard: Document | undefined, event: number): void => {
    const p = pending.get(kind) ?? { replaces: [], replaceOwners: [], inserts: [], insertOwners: [], insertGuards: [] };
    pending.set(kind, p);
    const { _id, ...rest } = doc;
    if (mostlyExisting.has(kind)) {
      // an insert would fail on nearly every batch: upsert in the same bulk as the replace
      if (guard) {
        p.replaces.push({ replaceOne: { filter: { _id, ...guard }, replacement: rest } });
        p.replaceOwners.push(event);
      }
      if (!guard || !known(doc)) {
        p.replaces.push({ updateOne: { filter: { _id }, update: { $setOnInsert: rest }, upsert: true } });
        p.replaceOwners.push(event);
      }
      written.push(doc);
    } else {
      p.inserts.push(doc);
      p.insertOwners.push(event);
      p.insertGuards.push(guard);
    }
  };
  for (const { write, event } of plan.ops as BatchOp[]) {
    const guard = write.rule === 'insert-once' ? undefined : write.rule === 'head-order' ? headBelow(write.doc as CheckpointDoc) : olderThan(write.doc.pos);
    add(write.collection, write.doc, guard, event);
  }
  const offsets = new Map<CollectionKind, PendingWrites>();
  if (options.topic !== undefined) {
    for (const pos of throughPositions(events, options.through)) {
      const doc = { _id: ids.offset(options.topic, pos.partition), topic: options.topic, partition: pos.partition, offset: pos.offset };
      add('offsets', doc, { offset: { $lt: pos.offset } }, -1);
    }
    offsets.set('offsets', pending.get('offsets')!);
    pending.delete('offsets');
  }
  // Applied offsets last, not beside the rest: readers use them as the barrier "everything up
  // to here is readable" when Redis watermarks are unavailable (src/store/watermarks.ts).
  // Links go with the documents, chain heads with the offsets: a head never names a link
  // that is not stored, and a crash between the two re-chains the same links (idempotent).
  const [outcomes] = await Promise.all([
    writeAll(cols, pending, 'applying a batch'),
    chainCol && chains.links.length > 0 ? mongoCall('writing chain links', () => insertOnce(chainCol, chains.links)) : undefined,
  ]);
  await Promise.all([
    offsets.size > 0 ? writeAll(cols, offsets, 'recording applied offsets').then((w) => void outcomes.push(...w)) : undefined,
    chainCol && chains.chains.length > 0 ? mongoCall('advancing hash chains', () => bulkWrite(chainCol, chainHeadOps(chains))) : undefined,
  ]);

  const applied = new Set<number>(plan.deleting);
  let inserted = 0;
  let replaced = 0;
  for (const w of outcomes) {
    inserted += w.inserted;
    replaced += w.modified;
    w.applied.forEach((e) => applied.add(e));
  }
  // the hash chain's documents are work too: a link per event, its thread's chain head replaced
  if (chainCol) {
    inserted += chains.links.length + chains.chains.filter((c) => c.previous === undefined).length;
    replaced += chains.chains.filter((c) => c.previous !== undefined).length;
  }
  const results = events.map((_e, i): EventResult => {
    const reason = plan.decided.get(i);
    if (reason) return { applied: false, reason };
    return applied.has(i) ? { applied: true } : { applied: false, reason: 'not-newer' };
  });
  const skipped: BatchCounts['skipped'] = {};
  for (const r of results) if (!r.applied) skipped[r.reason] = (skipped[r.reason] ?? 0) + 1;
  if (state) {
    // what MongoDB holds now: the newest of the stored tombstone and the batch's deletes
    for (const t of threads) state.setTombstone(t, tombstones.get(t) ?? null);
    for (const i of plan.deleting) {
      const e = events[i]!;
      const cur = state.tombstone(e.event.threadId);
      const pos = toPos(e.position);
      if (!cur || comparePos(pos, cur) > 0) state.setTombstone(e.event.threadId, pos);
    }
    for (const t of chained) state.setChain(t, chainHeads.get(t) ?? null);
    for (const t of deletedNow) state.forgetExists(t);
    for (const doc of written) state.setExists(ownerThread(doc), doc._id);
    for (const { doc } of chains.chains) state.setChain(doc.threadId, doc);
  }
  return {
    results,
    counts: { events: events.length, applied: results.filter((r) => r.applied).length, skipped, inserted, replaced, deleted },
  };
}

/** A new head is inserted; an existing one replaced only where it is older (a slower twin never moves it back). */
function chainHeadOps(plan: ChainPlan): Op[] {
  return plan.chains.map(({ doc, previous }): Op => {
    const { _id, ...rest } = doc;
    return previous === undefined
      ? { updateOne: { filter: { _id }, update: { $setOnInsert: rest }, upsert: true } }
      : { replaceOne: { filter: { _id, ...olderThan(doc.pos) }, replacement: rest } };
  });
}

function throughPositions(events: readonly PositionedEvent[], through: readonly LogPosition[] | undefined): Pos[] {
  const max = new Map<number, Pos>();
  for (const pos of (through ?? events.map((e) => e.position)).map(toPos)) {
    const prev = max.get(pos.partition);
    if (!prev || comparePos(pos, prev) > 0) max.set(pos.partition, pos);
  }
  return [...max.values()];
}
