/**
 * Layout 2 as a pure function: a batch of events (log order per thread) plus what is known of
 * the stored projection → the documents to write. Per lane (thread, namespace) the events are
 * folded into one head document; every checkpoint and writes event becomes one document;
 * values point at the checkpoint documents holding their older versions (`origins`, and
 * `baseCheckpoint` on skip-delta items), so reads go by exact `_id`.
 *
 * Two steps, so the applier reads only what it lacks: `lookupsFor` names the stored
 * checkpoints the plan needs (a parent not in the batch nor the lane's head, a delta base no
 * one remembers), `planBatchV2` then plans with them. Duplicates, older and hidden events
 * are results, never exceptions.
 */
import { isThreadEnd, type ChannelVersion, type CheckpointEvent, type ThreadEndEvent, type TypedValue, type WritesEvent } from '../../events/types.ts';
import { GENESIS_LINK, nextLink } from '../chain.ts';
import { compareHeads, comparePos, toPos, type Pos, type PositionedEvent } from '../documents.ts';
import type { SkipReason } from '../evolve.ts';
import { ids } from '../ids.ts';
import { toStoredMetadata } from '../metadata.ts';
import { packSpilled } from './spill.ts';
import {
  SPILL_DOC_BYTES,
  SPILL_VALUE_BYTES,
  idsV2,
  type BlobPartDocV2,
  type CheckpointDocV2,
  type HeadCheckpoint,
  type HeadDocV2,
  type LaneChain,
  type Origin,
  type StoredValue,
  type TombstoneDocV2,
  type WritesDocV2,
} from './documents.ts';

/** What the plan needs of a stored checkpoint (its document, or a head's copy). */
export interface CheckpointInfo {
  checkpointId: string;
  pos: Pos;
  versions: Record<string, ChannelVersion>;
  /** channel → checkpoint holding its value (absent: empty channel) */
  origins: Map<string, string>;
  /** `${channel}\0${version}` of the values stored in this very document */
  values: Set<string>;
  unresolved: Set<string>;
}

export interface KnownState {
  /** the stored tombstone's position, if any */
  tombstone(threadId: string): Pos | undefined;
  /** the stored delete-lane chain (the tombstone's) */
  tombstoneChain(threadId: string): LaneChain | undefined;
  /** the stored tombstone's first erasure, if the thread was erased */
  erased(threadId: string): { pos: Pos; ts: number } | undefined;
  head(threadId: string, ns: string): HeadDocV2 | undefined;
  checkpoint(threadId: string, ns: string, checkpointId: string): CheckpointInfo | undefined;
  /** a checkpoint remembered to hold this value (an applier's memory of what it projected) */
  recent(threadId: string, ns: string, channel: string, version: ChannelVersion): string | undefined;
}

export type ChainedEvent = PositionedEvent & { raw: Uint8Array };

export interface MissingBase {
  event: number;
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  channel: string;
  version: ChannelVersion;
  base: ChannelVersion;
}

export interface PlanV2 {
  /** thread deletions to run first: documents older than `before` go (heads lose their checkpoint) */
  deletions: Array<{ threadId: string; before: Pos }>;
  /** newer-wins on `_id` (a re-put of a checkpoint id) */
  checkpoints: Array<{ doc: CheckpointDocV2; event: number }>;
  /** insert-once */
  writes: Array<{ doc: WritesDocV2; event: number }>;
  blobs: BlobPartDocV2[];
  /** replace the stored head whose chain ends at `expected` (null: there is none yet) */
  heads: Array<{ doc: HeadDocV2; expected: Pos | null }>;
  tombstones: Array<{ doc: TombstoneDocV2; expected: Pos | null }>;
  decided: Map<number, SkipReason>;
  /** delete events whose deletion runs */
  deleting: Set<number>;
  missing: MissingBase[];
}

const laneKey = (threadId: string, ns: string): string => JSON.stringify([threadId, ns]);
const valueKey = (channel: string, version: ChannelVersion): string => `${channel}\u0000${typeof version}:${String(version)}`;

export function infoOfDoc(d: CheckpointDocV2 | HeadCheckpoint): CheckpointInfo {
  const header = JSON.parse(d.checkpoint) as { channel_versions?: Record<string, ChannelVersion> };
  const own = 'own' in d ? d.own : d.values;
  return {
    checkpointId: d.checkpointId,
    pos: d.pos,
    versions: header.channel_versions ?? {},
    origins: new Map(d.origins.map((o) => [o.channel, o.checkpoint])),
    values: new Set(own.map((v) => valueKey(v.channel, v.version))),
    unresolved: new Set(d.unresolved ?? []),
  };
}

/** Stored checkpoints the plan would look for: parents and delta bases neither in the batch nor known. */
export function lookupsFor(events: readonly PositionedEvent[], known: KnownState): Array<{ threadId: string; checkpointNs: string; checkpointId: string }> {
  const inBatch = new Set<string>();
  const wanted = new Map<string, { threadId: string; checkpointNs: string; checkpointId: string }>();
  const want = (threadId: string, ns: string, id: string): void => {
    const k = JSON.stringify([threadId, ns, id]);
    if (inBatch.has(k) || known.checkpoint(threadId, ns, id) !== undefined) return;
    if (known.head(threadId, ns)?.head?.checkpointId === id) return;
    wanted.set(k, { threadId, checkpointNs: ns, checkpointId: id });
  };
  for (const { event, position } of events) {
    if (event.type !== 'checkpoint') continue;
    const { threadId, checkpointNs: ns } = event;
    // a redelivered event (its lane's chain is past it) is not planned: what it wrote is
    // stored, and found there like any earlier document
    const last = known.head(threadId, ns)?.chain?.last;
    if (last !== undefined && comparePos(toPos(position), last) <= 0) continue;
    if (event.parentCheckpointId !== undefined) want(threadId, ns, event.parentCheckpointId);
    for (const v of event.values) {
      if (v.kind === 'append' && v.baseCheckpoint !== undefined && known.recent(threadId, ns, v.channel, v.base) !== v.baseCheckpoint) want(threadId, ns, v.baseCheckpoint);
    }
    inBatch.add(JSON.stringify([threadId, ns, event.checkpointId]));
  }
  return [...wanted.values()];
}

interface LaneState {
  threadId: string;
  ns: string;
  stored: HeadDocV2 | undefined;
  head: HeadCheckpoint | undefined;
  chain: LaneChain | undefined;
  changed: boolean;
  /** checkpoints of this lane planned in the batch, by id */
  planned: Map<string, CheckpointInfo>;
  /** values stored by this batch's checkpoints: value key → checkpoint id */
  batchValues: Map<string, string>;
}

function valueBytes(v: StoredValue): number {
  if (v.kind === 'snapshot') return v.value.value.byteLength;
  if (v.kind === 'append') return v.items.reduce((n, it) => n + it.value.byteLength, 0);
  return 0;
}

/** Moves values out of a document too big for MongoDB, largest first (documents.ts states the rule). */
function spill(doc: CheckpointDocV2, blobs: BlobPartDocV2[]): void {
  let total = doc.values.reduce((n, v) => n + valueBytes(v), 0);
  const order = doc.values.map((v, i) => [i, valueBytes(v)] as const).sort((a, b) => b[1] - a[1]);
  for (const [i, bytes] of order) {
    if (bytes <= SPILL_VALUE_BYTES && total <= SPILL_DOC_BYTES) break;
    const v = doc.values[i]!;
    const parts = packSpilled(v);
    parts.forEach((data, part) =>
      blobs.push({ _id: idsV2.blobPart(doc.threadId, doc.checkpointNs, doc.checkpointId, v.channel, part), threadId: doc.threadId, checkpointNs: doc.checkpointNs, checkpointId: doc.checkpointId, channel: v.channel, part, data, pos: doc.pos }),
    );
    doc.values[i] = { channel: v.channel, version: v.version, kind: 'spilled', parts: parts.length, bytes };
    total -= bytes;
  }
}

export function planBatchV2(events: readonly ChainedEvent[], known: KnownState): PlanV2 {
  const plan: PlanV2 = { deletions: [], checkpoints: [], writes: [], blobs: [], heads: [], tombstones: [], decided: new Map(), deleting: new Set(), missing: [] };
  // the newest delete of each thread in the batch hides every older event of it
  const lastDelete = new Map<string, Pos>();
  // an erasure hides every event of its thread, before and after it: the first one of each
  // thread, stored or in the batch
  const erasedAt = new Map<string, { pos: Pos; ts: number }>();
  for (const { event, position } of events) {
    if (!isThreadEnd(event)) continue;
    const pos = toPos(position);
    const cur = lastDelete.get(event.threadId);
    if (cur === undefined || comparePos(pos, cur) > 0) lastDelete.set(event.threadId, pos);
    if (event.type === 'thread-erased' && !erasedAt.has(event.threadId)) erasedAt.set(event.threadId, known.erased(event.threadId) ?? { pos, ts: event.ts });
  }
  const erasure = (thread: string): { pos: Pos; ts: number } | undefined => known.erased(thread) ?? erasedAt.get(thread);
  const tombOf = (thread: string): Pos | undefined => {
    const stored = known.tombstone(thread);
    const inBatch = lastDelete.get(thread);
    return inBatch !== undefined && (stored === undefined || comparePos(inBatch, stored) > 0) ? inBatch : stored;
  };
  /** a delete in this batch: memory of earlier batches no longer holds */
  const deletedSince = (threadId: string): boolean => lastDelete.has(threadId);
  const hidden = (thread: string, pos: Pos): boolean => {
    if (erasure(thread) !== undefined) return true;
    const t = tombOf(thread);
    return t !== undefined && comparePos(pos, t) <= 0;
  };

  const lanes = new Map<string, LaneState>();
  // the batch's checkpoint documents by `_id` (a re-put of an id in the batch: the later wins)
  const planned = new Map<string, { doc: CheckpointDocV2; event: number }>();
  const laneOf = (threadId: string, ns: string): LaneState => {
    const k = laneKey(threadId, ns);
    let l = lanes.get(k);
    if (l === undefined) {
      const stored = known.head(threadId, ns);
      l = { threadId, ns, stored, head: stored?.head, chain: stored?.chain, changed: false, planned: new Map(), batchValues: new Map() };
      lanes.set(k, l);
    }
    return l;
  };
  const tombChains = new Map<string, { chain: LaneChain | undefined; stored: LaneChain | undefined; doc?: TombstoneDocV2 }>();

  /** extends a chain with one event, unless the chain already holds it (a redelivery) */
  const extend = (chain: LaneChain | undefined, e: ChainedEvent, pos: Pos): LaneChain | 'duplicate' => {
    if (chain !== undefined && comparePos(pos, chain.last) <= 0) return 'duplicate';
    return { head: nextLink(chain?.head ?? GENESIS_LINK, e.raw), count: (chain?.count ?? 0) + 1, first: chain?.first ?? pos, last: pos };
  };

  /** a stored checkpoint the plan may use: not one a delete of this batch removes */
  const storedInfo = (threadId: string, ns: string, id: string): CheckpointInfo | undefined => {
    const head = known.head(threadId, ns)?.head;
    const info = head?.checkpointId === id ? infoOfDoc(head) : known.checkpoint(threadId, ns, id);
    const deletedAt = lastDelete.get(threadId);
    return info !== undefined && deletedAt !== undefined && comparePos(info.pos, deletedAt) < 0 ? undefined : info;
  };

  events.forEach((e, i) => {
    const { event } = e;
    const pos = toPos(e.position);
    if (isThreadEnd(event)) {
      planDelete(event, e, pos, i);
      return;
    }
    const lane = laneOf(event.threadId, event.checkpointNs);
    const chain = extend(lane.chain, e, pos);
    if (chain === 'duplicate') return void plan.decided.set(i, 'duplicate');
    lane.chain = chain;
    lane.changed = true;
    if (hidden(event.threadId, pos)) return void plan.decided.set(i, 'tombstoned');
    if (event.type === 'writes') plan.writes.push({ doc: writesDoc(event, pos, chain.head), event: i });
    else planCheckpoint(event, lane, pos, chain.head, i);
  });

  /** a delete or an erasure: both remove what is older and chain in the thread's delete lane */
  function planDelete(event: ThreadEndEvent, e: ChainedEvent, pos: Pos, i: number): void {
    let t = tombChains.get(event.threadId);
    if (t === undefined) {
      const stored = known.tombstoneChain(event.threadId);
      tombChains.set(event.threadId, (t = { chain: stored, stored }));
    }
    const chain = extend(t.chain, e, pos);
    if (chain === 'duplicate') return void plan.decided.set(i, 'duplicate');
    t.chain = chain;
    const stored = known.tombstone(event.threadId);
    if (stored !== undefined && comparePos(pos, stored) <= 0) {
      plan.decided.set(i, 'older');
    } else if (comparePos(pos, lastDelete.get(event.threadId)!) < 0) {
      plan.decided.set(i, 'superseded');
    } else {
      plan.deleting.add(i);
      plan.deletions.push({ threadId: event.threadId, before: pos });
    }
    const prev = t.doc ?? undefined;
    const newest = prev === undefined || comparePos(pos, prev.pos) > 0 ? { pos, ts: event.ts } : { pos: prev.pos, ts: prev.ts };
    const erased = erasure(event.threadId);
    t.doc = { _id: ids.tombstone(event.threadId), threadId: event.threadId, pos: stored !== undefined && comparePos(stored, newest.pos) > 0 ? stored : newest.pos, ts: newest.ts, chain, ...(erased === undefined || comparePos(erased.pos, pos) > 0 ? {} : { erased }) };
    // the thread's lanes in this batch lose their heads older than the delete
    for (const lane of lanes.values()) {
      if (lane.threadId !== event.threadId) continue;
      if (lane.head !== undefined && comparePos(lane.head.pos, pos) < 0) {
        lane.head = undefined;
        lane.changed = true;
      }
      lane.planned.clear();
      lane.batchValues.clear();
    }
  }

  function parentInfo(event: CheckpointEvent, lane: LaneState): CheckpointInfo | undefined {
    const id = event.parentCheckpointId;
    if (id === undefined) return undefined;
    return lane.planned.get(id) ?? storedInfo(event.threadId, event.checkpointNs, id);
  }

  function planCheckpoint(event: CheckpointEvent, lane: LaneState, pos: Pos, link: string, i: number): void {
    const { threadId, checkpointNs: ns, checkpointId } = event;
    const parent = parentInfo(event, lane);
    const values: StoredValue[] = event.values.map((v): StoredValue => {
      if (v.kind === 'snapshot') return { channel: v.channel, version: v.version, kind: 'snapshot', value: v.value };
      const baseCheckpoint = resolveBase(event, lane, parent, v.channel, v.base, v.baseCheckpoint);
      if (baseCheckpoint === undefined) plan.missing.push({ event: i, threadId, checkpointNs: ns, checkpointId, channel: v.channel, version: v.version, base: v.base });
      return {
        channel: v.channel,
        version: v.version,
        kind: 'append',
        base: v.base,
        ...(baseCheckpoint === undefined ? {} : { baseCheckpoint }),
        depth: v.depth,
        ...(v.baseLength === undefined ? {} : { baseLength: v.baseLength }),
        items: v.items,
      };
    });
    const own = new Set(event.values.map((v) => v.channel));
    const origins: Origin[] = [];
    const unresolved: string[] = [];
    for (const [channel, version] of Object.entries(event.checkpoint.channel_versions)) {
      if (own.has(channel)) origins.push({ channel, checkpoint: checkpointId });
      else if (parent !== undefined && parent.versions[channel] === version) {
        if (parent.unresolved.has(channel)) unresolved.push(channel);
        else {
          const o = parent.origins.get(channel);
          if (o !== undefined) origins.push({ channel, checkpoint: o });
        }
      } else if (event.parentCheckpointId !== undefined && parent === undefined) {
        // the parent is not projected: the value may be anywhere; a remembered one will do
        const recent = lane.batchValues.get(valueKey(channel, version)) ?? known.recent(threadId, ns, channel, version);
        if (recent !== undefined) origins.push({ channel, checkpoint: recent });
        else unresolved.push(channel);
      }
      // else: a version new in this checkpoint without a value — LangGraph's empty channel
    }
    const doc: CheckpointDocV2 = {
      _id: ids.checkpoint(threadId, ns, checkpointId),
      threadId,
      checkpointNs: ns,
      checkpointId,
      ...(event.parentCheckpointId === undefined ? {} : { parentCheckpointId: event.parentCheckpointId }),
      checkpoint: JSON.stringify(event.checkpoint),
      metadata: toStoredMetadata(event.metadata),
      ...(event.sealed === undefined ? {} : { sealed: event.sealed }),
      eventId: event.eventId,
      ts: event.ts,
      pos,
      values,
      origins,
      ...(unresolved.length > 0 ? { unresolved } : {}),
      link,
    };
    spill(doc, plan.blobs);
    // a re-put of the same id in the batch: the later one wins
    const earlier = planned.get(doc._id);
    if (earlier !== undefined) {
      plan.decided.set(earlier.event, 'superseded');
      plan.checkpoints.splice(plan.checkpoints.indexOf(earlier), 1);
    }
    const entry = { doc, event: i };
    plan.checkpoints.push(entry);
    planned.set(doc._id, entry);
    // what later events of the batch need of it, from the event itself (no header re-parse)
    lane.planned.set(checkpointId, {
      checkpointId,
      pos,
      versions: event.checkpoint.channel_versions ?? {},
      origins: new Map(origins.map((o) => [o.channel, o.checkpoint])),
      values: new Set(values.map((v) => valueKey(v.channel, v.version))),
      unresolved: new Set(unresolved),
    });
    for (const v of event.values) lane.batchValues.set(valueKey(v.channel, v.version), checkpointId);
    const { _id, values: _v, link: _l, ...rest } = doc;
    const head: HeadCheckpoint = { ...rest, own: doc.values.map((v) => ({ channel: v.channel, version: v.version })) };
    if (lane.head === undefined || compareHeads(head, lane.head) > 0) {
      lane.head = head;
      lane.changed = true;
    }
  }

  /** the checkpoint holding `base`, verified: the event's own claim, the batch, the parent, or memory */
  function resolveBase(event: CheckpointEvent, lane: LaneState, parent: CheckpointInfo | undefined, channel: string, base: ChannelVersion, claimed: string | undefined): string | undefined {
    const { threadId, checkpointNs: ns } = event;
    const k = valueKey(channel, base);
    const holds = (id: string): boolean => {
      if (lane.batchValues.get(k) === id) return true;
      if (known.recent(threadId, ns, channel, base) === id && !deletedSince(threadId)) return true;
      return storedInfo(threadId, ns, id)?.values.has(k) ?? false;
    };
    if (claimed !== undefined) return holds(claimed) ? claimed : undefined;
    const inBatch = lane.batchValues.get(k);
    if (inBatch !== undefined) return inBatch;
    // the parent's origins were computed by the projection itself: the checkpoint they name
    // holds the parent's version (documents of a thread go only all together, by a delete)
    if (parent !== undefined && parent.versions[channel] === base && !parent.unresolved.has(channel)) {
      const o = parent.origins.get(channel);
      if (o !== undefined) return o;
    }
    const recent = known.recent(threadId, ns, channel, base);
    return recent !== undefined && !deletedSince(threadId) ? recent : undefined;
  }

  for (const lane of lanes.values()) {
    if (!lane.changed) continue;
    const doc: HeadDocV2 = { _id: ids.head(lane.threadId, lane.ns), threadId: lane.threadId, checkpointNs: lane.ns, ...(lane.head ? { head: lane.head } : {}), ...(lane.chain ? { chain: lane.chain } : {}) };
    plan.heads.push({ doc, expected: lane.stored?.chain?.last ?? null });
  }
  for (const [, t] of tombChains) if (t.doc !== undefined) plan.tombstones.push({ doc: t.doc, expected: t.stored?.last ?? null });
  return plan;
}

function writesDoc(e: WritesEvent, pos: Pos, link: string): WritesDocV2 {
  return {
    _id: idsV2.writes(e.threadId, e.checkpointNs, e.checkpointId, e.taskId, pos),
    threadId: e.threadId,
    checkpointNs: e.checkpointNs,
    checkpointId: e.checkpointId,
    taskId: e.taskId,
    taskPath: e.taskPath,
    writes: e.writes.map((w): { idx: number; channel: string; value: TypedValue } => ({ idx: w.idx, channel: w.channel, value: w.value })),
    pos,
    link,
  };
}
