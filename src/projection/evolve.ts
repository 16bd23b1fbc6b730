/**
 * The projection as pure functions (emmett style): an event plus the documents it touches in,
 * new documents out. Duplicates, out-of-order and tombstoned events are results, never
 * exceptions. The MongoDB adapter applies the same rules as guarded writes (see batch.ts).
 */
import { WRITES_IDX_MAP } from '@langchain/langgraph-checkpoint';
import type { CheckpointEvent, WritesEvent } from '../events/types.ts';
import { ids } from './ids.ts';
import { toStoredMetadata } from './metadata.ts';
import {
  compareHeads,
  comparePos,
  toPos,
  type BlobDoc,
  type CheckpointDoc,
  type CollectionKind,
  type Pos,
  type PositionedEvent,
  type ProjectionDoc,
  type TombstoneDoc,
  type WriteDoc,
} from './documents.ts';

/**
 * How a document reacts to a second write of the same `_id`:
 * - `newer-wins`: the higher log position replaces (checkpoints, special writes, tombstones);
 * - `insert-once`: the first stays (blobs, ordinary writes — LangGraph's insert-or-ignore);
 * - `head-order`: the higher (checkpoint id, log position) replaces (heads).
 */
export type DocRule = 'newer-wins' | 'insert-once' | 'head-order';

export type SkipReason =
  | 'duplicate' // this very event was applied already
  | 'older' // a newer event already wrote this document
  | 'exists' // insert-once document written by another event
  | 'tombstoned' // the thread was deleted after this event
  | 'not-newer' // the store refused a guarded write: duplicate or older, it cannot tell which
  | 'superseded'; // a later event of the same batch wins this document

export interface DocWrite {
  collection: CollectionKind;
  rule: DocRule;
  doc: ProjectionDoc & { pos: Pos };
}

/**
 * Remove every document of the thread older than `before` (newer ones are a reused id).
 * Known edge: if a head older than `before` is removed while a newer checkpoint with a lower
 * checkpoint id survives, that namespace has no head until its next checkpoint.
 */
export interface ThreadDeletion {
  threadId: string;
  before: Pos;
}

export interface EventPlan {
  threadId: string;
  pos: Pos;
  writes: DocWrite[];
  deletion?: ThreadDeletion;
}

export type DocOutcome = { applied: true } | { applied: false; reason: SkipReason };

export type EvolveResult =
  | { applied: true; put: ProjectionDoc[]; deletion?: ThreadDeletion }
  | { applied: false; reason: SkipReason };

/** LangGraph: special channels take a fixed negative idx and overwrite; others insert once. */
const specialIdx = (channel: string): number | undefined => WRITES_IDX_MAP[channel];

/** The documents an event wants to write, before looking at what is stored. */
export function planEvent({ event, position }: PositionedEvent): EventPlan {
  const pos = toPos(position);
  const threadId = event.threadId;
  switch (event.type) {
    case 'checkpoint':
      return { threadId, pos, writes: checkpointWrites(event, pos) };
    case 'writes':
      return { threadId, pos, writes: writeWrites(event, pos) };
    // Layout 1 knows no erasure of its own: it removes what is older, as a delete does. Later
    // events of the thread would be projected again (sealed with the destroyed key, so they
    // read as not found); `eraseThread` refuses on a layout 1 generation (docs/security.md).
    case 'thread-deleted':
    case 'thread-erased': {
      const doc: TombstoneDoc = { _id: ids.tombstone(threadId), threadId, pos, ts: event.ts };
      return { threadId, pos, writes: [{ collection: 'tombstones', rule: 'newer-wins', doc }], deletion: { threadId, before: pos } };
    }
  }
}

function checkpointWrites(e: CheckpointEvent, pos: Pos): DocWrite[] {
  const base: Omit<CheckpointDoc, '_id'> = {
    threadId: e.threadId,
    checkpointNs: e.checkpointNs,
    checkpointId: e.checkpointId,
    ...(e.parentCheckpointId === undefined ? {} : { parentCheckpointId: e.parentCheckpointId }),
    checkpoint: JSON.stringify(e.checkpoint),
    metadata: toStoredMetadata(e.metadata),
    ...(e.sealed === undefined ? {} : { sealed: e.sealed }),
    eventId: e.eventId,
    ts: e.ts,
    pos,
  };
  const writes: DocWrite[] = [
    { collection: 'checkpoints', rule: 'newer-wins', doc: { _id: ids.checkpoint(e.threadId, e.checkpointNs, e.checkpointId), ...base } },
    { collection: 'heads', rule: 'head-order', doc: { _id: ids.head(e.threadId, e.checkpointNs), ...base } },
  ];
  for (const v of e.values) {
    const common = { _id: ids.blob(e.threadId, e.checkpointNs, v.channel, v.version), threadId: e.threadId, checkpointNs: e.checkpointNs, pos };
    const doc: BlobDoc =
      v.kind === 'snapshot'
        ? { ...common, channel: v.channel, version: v.version, kind: 'snapshot', value: v.value }
        : { ...common, channel: v.channel, version: v.version, kind: 'append', base: v.base, depth: v.depth, items: v.items };
    writes.push({ collection: 'blobs', rule: 'insert-once', doc });
  }
  return writes;
}

function writeWrites(e: WritesEvent, pos: Pos): DocWrite[] {
  return e.writes.map((w): DocWrite => {
    const special = specialIdx(w.channel);
    const idx = special ?? w.idx;
    const doc: WriteDoc = {
      _id: ids.write(e.threadId, e.checkpointNs, e.checkpointId, e.taskId, idx),
      threadId: e.threadId,
      checkpointNs: e.checkpointNs,
      checkpointId: e.checkpointId,
      taskId: e.taskId,
      taskPath: e.taskPath,
      idx,
      channel: w.channel,
      value: w.value,
      pos,
    };
    return { collection: 'writes', rule: special === undefined ? 'insert-once' : 'newer-wins', doc };
  });
}

/** One document's rule: does `write` replace `current`? */
export function evolveDoc(current: ProjectionDoc | undefined, write: DocWrite): DocOutcome {
  if (current === undefined) return { applied: true };
  const stored = (current as { pos: Pos }).pos;
  const byPos = comparePos(stored, write.doc.pos);
  if (byPos === 0) return { applied: false, reason: 'duplicate' };
  switch (write.rule) {
    case 'insert-once':
      return { applied: false, reason: 'exists' };
    case 'newer-wins':
      return byPos < 0 ? { applied: true } : { applied: false, reason: 'older' };
    case 'head-order':
      return compareHeads(current as CheckpointDoc, write.doc as CheckpointDoc) < 0
        ? { applied: true }
        : { applied: false, reason: 'older' };
  }
}

/** True when a thread deleted at `tomb` hides a (non-delete) event at `pos`. */
export const hiddenBy = (tomb: Pos | undefined, pos: Pos): boolean => tomb !== undefined && comparePos(pos, tomb) <= 0;

/**
 * Apply one event to the documents it touches (`current`, keyed by `_id`; missing = absent).
 * Each document follows its own rule, so a redelivery after a partial write fills the gaps.
 * A delete that is not older than the stored tombstone re-runs its (idempotent) deletion.
 */
export function evolve(logged: PositionedEvent, current: ReadonlyMap<string, ProjectionDoc>): EvolveResult {
  const plan = planEvent(logged);
  const tomb = current.get(ids.tombstone(plan.threadId)) as TombstoneDoc | undefined;
  if (plan.deletion === undefined && hiddenBy(tomb?.pos, plan.pos)) {
    return { applied: false, reason: 'tombstoned' };
  }
  const put: ProjectionDoc[] = [];
  let firstReason: SkipReason | undefined;
  for (const w of plan.writes) {
    const outcome = evolveDoc(current.get(w.doc._id), w);
    if (outcome.applied) put.push(w.doc);
    else firstReason ??= outcome.reason;
  }
  if (plan.deletion && firstReason !== 'older') return { applied: true, put, deletion: plan.deletion };
  return put.length > 0 ? { applied: true, put } : { applied: false, reason: firstReason ?? 'duplicate' };
}

/** Documents whose current state `evolve` needs for this event (for loaders and tests). */
export function touchedIds(logged: PositionedEvent): string[] {
  const plan = planEvent(logged);
  return [ids.tombstone(plan.threadId), ...plan.writes.map((w) => w.doc._id)];
}
