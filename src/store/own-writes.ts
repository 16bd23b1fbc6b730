/**
 * Write-through: what this store instance appended, kept once the log acknowledged it, so a
 * `session` read of its own writes can be answered without waiting for the projector. Per
 * thread: each namespace's own head (LangGraph head order, like the projection's heads), the
 * own checkpoints and pending writes by checkpoint id, and the (channel, version) pairs a save
 * listed as new but carried no value for (empty channels: no blob exists for them). Channel
 * values themselves go to L1 under the reader's blob key: a blob is insert-once per
 * (thread, ns, channel, version), so the value by version is immutable (a version identifies
 * one value, as LangGraph's savers assume; ThreadlogSaver's versions are unique).
 *
 * A record is only trusted when it is complete: it must know every own event of the thread
 * that the projection would still show. A thread whose record was evicted (bounded in bytes)
 * gets a new, incomplete record when written again, unless a delete hides what came before.
 * Incomplete records and pruned checkpoint slots make reads fall back to waiting.
 */
import { LRUCache } from 'lru-cache';
import { WRITES_IDX_MAP } from '@langchain/langgraph-checkpoint';
import { isThreadEnd, type ChannelVersion, type CheckpointEvent, type CheckpointHeader, type CheckpointMetadata, type LogPosition, type Receipt, type ThreadlogEvent, type TypedValue, type WritesEvent } from '../events/types.ts';
import { compareHeads, toPos } from '../projection/documents.ts';
import type { L1Cache } from './l1-cache.ts';
import { NONE, type SessionTracker } from './session.ts';

export interface OwnCheckpoint {
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  parentCheckpointId: string | undefined;
  checkpoint: CheckpointHeader;
  metadata: CheckpointMetadata;
  position: LogPosition;
}

export interface OwnWrite {
  taskId: string;
  taskPath: string;
  idx: number;
  channel: string;
  value: TypedValue;
  position: LogPosition;
}

interface Slot {
  cp?: OwnCheckpoint;
  writes: Map<string, OwnWrite>;
  /** created after older slots of its namespace were pruned: earlier own events may be lost */
  partial: boolean;
  bytes: number;
}

interface NsRecord {
  head?: OwnCheckpoint;
  slots: Map<string, Slot>;
  prunedUpTo?: string;
  /** highest log offset of an own event whose slot was pruned (NONE: none) */
  prunedAt: bigint;
  empties: Set<string>;
  /** per channel, the whole serialized value of the newest version an own save wrote */
  wholes: Map<string, { version: ChannelVersion; value: TypedValue }>;
}

/** What a `list` of a thread may take from the record instead of waiting for the projector. */
export interface OwnListing {
  /** own checkpoints still known, of the namespace asked for (or all), newest id first */
  checkpoints: OwnCheckpoint[];
  /**
   * Highest offset of an own event the listing cannot show from the record: pruned slots, and
   * own pending writes on checkpoints not saved here. The projection must reach it first.
   */
  unlistedAt: bigint;
}

interface ThreadRecord {
  complete: boolean;
  /** offset of this instance's own delete the record starts after */
  deletedAt: bigint;
  namespaces: Map<string, NsRecord>;
  /** recent own event positions, for `after` receipts */
  offsets: Set<string>;
  bytes: number;
}

export interface OwnWritesView {
  /** the thread's record when it is complete (knows every own event the projection shows) */
  complete(threadId: string): boolean;
  head(threadId: string, ns: string): OwnCheckpoint | undefined;
  /** own checkpoint by id; undefined if not saved here or no longer known */
  checkpoint(threadId: string, ns: string, checkpointId: string): OwnCheckpoint | undefined;
  /** own pending writes of a checkpoint in LangGraph order; undefined if possibly incomplete */
  writes(threadId: string, ns: string, checkpointId: string): OwnWrite[] | undefined;
  /** true when an own save listed (channel, version) as new without a value */
  isEmpty(threadId: string, ns: string, channel: string, version: ChannelVersion): boolean;
  /**
   * The channel values of `versions` as a read assembles them (the empty ones left out),
   * from the whole values own saves wrote; undefined when one is not known here whole.
   */
  wholeValues(threadId: string, ns: string, versions: Readonly<Record<string, ChannelVersion>>): Array<[string, TypedValue]> | undefined;
  isOwn(threadId: string, receipt: LogPosition): boolean;
  /** the thread's own checkpoints for a listing; undefined when the record is not complete */
  listing(threadId: string, ns: string | undefined): OwnListing | undefined;
}

export interface OwnWrites extends OwnWritesView {
  /**
   * after the log acknowledged `event`; `empties`: new channels of a save without a value;
   * `wholes`: the whole serialized value of each channel the save wrote (a delta's too)
   */
  record(event: ThreadlogEvent, receipt: Receipt, empties?: readonly string[], wholes?: ReadonlyMap<string, TypedValue>): void;
  /** a delete heard of from elsewhere: forget the thread (unless it is this instance's own) */
  forget(threadId: string, position: LogPosition): void;
}

/** Per namespace: own checkpoint slots kept (the oldest ids are pruned first). */
const MAX_SLOTS = 32;
const MAX_EMPTIES = 256;
const MAX_OFFSETS = 256;
const OVERHEAD = 200;

/**
 * About what a JSON value takes (strings by length, 8 per number, a little per key): for the
 * record's byte budget, without building the JSON string at every save (which cost as much as
 * the rest of recording a checkpoint).
 */
export function approxBytes(v: unknown): number {
  switch (typeof v) {
    case 'string':
      return v.length + 2;
    case 'number':
    case 'boolean':
      return 8;
    case 'object': {
      if (v === null) return 4;
      let n = 2;
      if (Array.isArray(v)) for (const x of v) n += approxBytes(x) + 1;
      else for (const k in v) n += k.length + 4 + approxBytes((v as Record<string, unknown>)[k]);
      return n;
    }
    default:
      return 0;
  }
}

const emptyKey = (channel: string, version: ChannelVersion): string => JSON.stringify([channel, version]);
const writeKey = (taskId: string, idx: number): string => JSON.stringify([taskId, idx]);
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const newerHead = (a: OwnCheckpoint, b: OwnCheckpoint): boolean =>
  compareHeads({ checkpointId: a.checkpointId, pos: toPos(a.position) }, { checkpointId: b.checkpointId, pos: toPos(b.position) }) > 0;

function boundedAdd(set: Set<string>, key: string, max: number): void {
  set.delete(key);
  set.add(key);
  for (const oldest of set) {
    if (set.size <= max) break;
    set.delete(oldest);
  }
}

export function createOwnWrites(o: { maxBytes: number; l1: L1Cache; session: SessionTracker }): OwnWrites {
  const threads = new LRUCache<string, ThreadRecord>({ maxSize: Math.max(1, o.maxBytes), sizeCalculation: (r) => Math.max(1, r.bytes) });
  const enabled = o.maxBytes > 0;

  function fresh(complete: boolean, deletedAt: bigint): ThreadRecord {
    return { complete, deletedAt, namespaces: new Map(), offsets: new Set(), bytes: OVERHEAD };
  }

  /** earlier own events of the thread that no delete hides: a new record would miss them */
  function hasHiddenPast(threadId: string, partition: number): boolean {
    const before = o.session.threadOffset(threadId, partition);
    if (before === NONE) return false;
    const tomb = o.session.deletedAt(threadId);
    return !(tomb !== undefined && tomb.partition === partition && before <= BigInt(tomb.offset));
  }

  function threadFor(threadId: string, partition: number): ThreadRecord {
    return threads.get(threadId) ?? fresh(!hasHiddenPast(threadId, partition), NONE);
  }

  function nsFor(rec: ThreadRecord, ns: string): NsRecord {
    let r = rec.namespaces.get(ns);
    if (r === undefined) rec.namespaces.set(ns, (r = { slots: new Map(), empties: new Set(), prunedAt: NONE, wholes: new Map() }));
    return r;
  }

  function slotFor(rec: ThreadRecord, r: NsRecord, id: string): Slot {
    let s = r.slots.get(id);
    if (s !== undefined) return s;
    s = { writes: new Map(), partial: r.prunedUpTo !== undefined && cmp(id, r.prunedUpTo) <= 0, bytes: OVERHEAD };
    r.slots.set(id, s);
    rec.bytes += s.bytes;
    if (r.slots.size > MAX_SLOTS) {
      const oldest = [...r.slots.keys()].reduce((a, b) => (cmp(a, b) <= 0 ? a : b));
      const gone = r.slots.get(oldest)!;
      rec.bytes -= gone.bytes;
      r.prunedAt = [gone.cp?.position, ...[...gone.writes.values()].map((w) => w.position)].reduce(
        (m, pos) => (pos !== undefined && BigInt(pos.offset) > m ? BigInt(pos.offset) : m),
        r.prunedAt,
      );
      r.slots.delete(oldest);
      if (r.prunedUpTo === undefined || cmp(oldest, r.prunedUpTo) > 0) r.prunedUpTo = oldest;
    }
    return s;
  }

  function grow(rec: ThreadRecord, s: Slot, bytes: number): void {
    s.bytes += bytes;
    rec.bytes += bytes;
  }

  function recordCheckpoint(rec: ThreadRecord, e: CheckpointEvent, position: LogPosition, empties: readonly string[], wholes: ReadonlyMap<string, TypedValue> | undefined): void {
    const r = nsFor(rec, e.checkpointNs);
    for (const v of e.values) {
      r.empties.delete(emptyKey(v.channel, v.version));
      // insert-once, like the projection: a value already known for this version stays
      if (o.l1.getBlob(e.threadId, e.checkpointNs, v.channel, v.version) === undefined) o.l1.setBlob(e.threadId, e.checkpointNs, v);
      const whole = wholes?.get(v.channel);
      const had = r.wholes.get(v.channel);
      if (whole !== undefined && had?.version !== v.version) {
        r.wholes.set(v.channel, { version: v.version, value: whole });
        rec.bytes += whole.value.byteLength - (had?.value.value.byteLength ?? 0);
      }
    }
    const written = new Set(e.values.map((v) => v.channel));
    for (const channel of empties) {
      const version = e.checkpoint.channel_versions[channel];
      // a value of this version written by another own save wins over "no value"
      if (version !== undefined && !written.has(channel) && o.l1.getBlob(e.threadId, e.checkpointNs, channel, version) === undefined) {
        boundedAdd(r.empties, emptyKey(channel, version), MAX_EMPTIES);
      }
    }
    const cp: OwnCheckpoint = {
      threadId: e.threadId,
      checkpointNs: e.checkpointNs,
      checkpointId: e.checkpointId,
      parentCheckpointId: e.parentCheckpointId,
      checkpoint: e.checkpoint,
      metadata: e.metadata,
      position,
    };
    const s = slotFor(rec, r, e.checkpointId);
    // a re-put of the same id: the later log position wins, as in the projection
    if (s.cp === undefined || BigInt(s.cp.position.offset) < BigInt(position.offset)) {
      if (s.cp === undefined) grow(rec, s, approxBytes(e.checkpoint) + approxBytes(e.metadata));
      s.cp = cp;
    }
    if (r.head === undefined || newerHead(cp, r.head)) r.head = cp;
  }

  function recordWrites(rec: ThreadRecord, e: WritesEvent, position: LogPosition): void {
    const r = nsFor(rec, e.checkpointNs);
    const s = slotFor(rec, r, e.checkpointId);
    for (const w of e.writes) {
      const k = writeKey(e.taskId, w.idx);
      const cur = s.writes.get(k);
      const later = cur !== undefined && BigInt(cur.position.offset) < BigInt(position.offset);
      // special channels (errors, interrupts) overwrite; the others are insert-once
      if (cur !== undefined && !(later && WRITES_IDX_MAP[w.channel] !== undefined)) continue;
      if (cur === undefined) grow(rec, s, w.value.value.byteLength + 100);
      s.writes.set(k, { taskId: e.taskId, taskPath: e.taskPath, idx: w.idx, channel: w.channel, value: w.value, position });
    }
  }

  function trusted(threadId: string): ThreadRecord | undefined {
    const rec = threads.get(threadId);
    return rec?.complete ? rec : undefined;
  }

  /** the checkpoint's slot (none: nothing own on it); undefined when that cannot be known */
  function slot(threadId: string, ns: string, id: string): { slot?: Slot; lost: boolean } | undefined {
    const rec = trusted(threadId);
    if (rec === undefined) return undefined;
    const r = rec.namespaces.get(ns);
    const s = r?.slots.get(id);
    if (s !== undefined) return { slot: s, lost: s.partial };
    return { lost: r?.prunedUpTo !== undefined && cmp(id, r.prunedUpTo) <= 0 };
  }

  return {
    record(event, receipt, empties = [], wholes) {
      if (!enabled) return;
      const position = { partition: receipt.partition, offset: receipt.offset };
      const offset = BigInt(receipt.offset);
      if (isThreadEnd(event)) {
        // own saves acknowledged before this delete but placed after it in the log would be
        // lost with the old record: then the new one cannot claim to know everything
        threads.set(event.threadId, fresh(o.session.threadOffset(event.threadId, receipt.partition) <= offset, offset));
        return;
      }
      const tomb = o.session.deletedAt(event.threadId);
      if (tomb !== undefined && tomb.partition === receipt.partition && offset <= BigInt(tomb.offset)) return;
      const rec = threadFor(event.threadId, receipt.partition);
      if (offset <= rec.deletedAt) return;
      if (event.type === 'checkpoint') recordCheckpoint(rec, event, position, empties, wholes);
      else recordWrites(rec, event, position);
      boundedAdd(rec.offsets, `${receipt.partition}:${receipt.offset}`, MAX_OFFSETS);
      threads.set(event.threadId, rec);
    },

    forget(threadId, position) {
      const rec = threads.get(threadId);
      if (rec !== undefined && rec.deletedAt !== BigInt(position.offset)) threads.delete(threadId);
    },

    complete: (t) => trusted(t) !== undefined,
    head: (t, ns) => trusted(t)?.namespaces.get(ns)?.head,

    checkpoint(t, ns, id) {
      const s = slot(t, ns, id);
      return s?.lost === false ? s.slot?.cp : undefined;
    },

    writes(t, ns, id) {
      const s = slot(t, ns, id);
      if (s === undefined || s.lost) return undefined;
      const ws = [...(s.slot?.writes.values() ?? [])];
      // LangGraph's order: task path, task id, then idx
      return ws.sort((a, b) => cmp(a.taskPath, b.taskPath) || cmp(a.taskId, b.taskId) || a.idx - b.idx);
    },

    listing(t, ns) {
      const rec = trusted(t);
      if (rec === undefined) return undefined;
      const checkpoints: OwnCheckpoint[] = [];
      let unlistedAt = NONE;
      const later = (pos: LogPosition): void => {
        if (BigInt(pos.offset) > unlistedAt) unlistedAt = BigInt(pos.offset);
      };
      for (const [name, r] of rec.namespaces) {
        if (ns !== undefined && name !== ns) continue;
        if (r.prunedAt > unlistedAt) unlistedAt = r.prunedAt;
        for (const slot of r.slots.values()) {
          if (slot.cp !== undefined && !slot.partial) {
            checkpoints.push(slot.cp);
            continue;
          }
          // writes on another process's checkpoint, or a slot that may have lost events:
          // shown from the projection, once it has them
          if (slot.cp !== undefined) later(slot.cp.position);
          for (const w of slot.writes.values()) later(w.position);
        }
      }
      checkpoints.sort((a, b) => cmp(b.checkpointId, a.checkpointId) || cmp(b.checkpointNs, a.checkpointNs));
      return { checkpoints, unlistedAt };
    },

    wholeValues(t, ns, versions) {
      const r = trusted(t)?.namespaces.get(ns);
      if (r === undefined) return undefined;
      const out: Array<[string, TypedValue]> = [];
      // what the assembler gives: in channel_versions order, the empty channels left out
      for (const channel of Object.keys(versions)) {
        const version = versions[channel]!;
        if (r.empties.has(emptyKey(channel, version))) continue;
        const whole = r.wholes.get(channel);
        if (whole === undefined || whole.version !== version) return undefined;
        out.push([channel, whole.value]);
      }
      return out;
    },

    isEmpty: (t, ns, channel, version) => trusted(t)?.namespaces.get(ns)?.empties.has(emptyKey(channel, version)) ?? false,
    isOwn: (t, r) => trusted(t)?.offsets.has(`${r.partition}:${r.offset}`) ?? false,
  };
}
