/**
 * The projection's document shapes and the orders that decide which document wins. Pure: no
 * driver types here, so `evolve` and the tests share them with the MongoDB adapter.
 */
import type { ChannelVersion, LogPosition, ThreadlogEvent, TypedValue } from '../events/types.ts';
import { ThreadlogError } from '../errors.ts';

/** A log position with the offset as a number: comparable in a MongoDB query (< 2^53). */
export interface Pos {
  partition: number;
  offset: number;
}

export interface PositionedEvent {
  event: ThreadlogEvent;
  position: LogPosition;
  /** the event's stored bytes; when present the event extends its thread's hash chain (chain.ts) */
  raw?: Uint8Array;
}

export const collectionKinds = ['checkpoints', 'blobs', 'writes', 'heads', 'tombstones', 'offsets'] as const;
export type CollectionKind = (typeof collectionKinds)[number];

interface ThreadDoc {
  _id: string;
  threadId: string;
  /** the log position of the event that produced this document */
  pos: Pos;
}

/** A checkpoint without channel values; `heads` hold a copy of the newest one per (thread, ns). */
export interface CheckpointDoc extends ThreadDoc {
  checkpointNs: string;
  checkpointId: string;
  /** absent for a thread's first checkpoint (no nulls: FerretDB drops null fields on replace) */
  parentCheckpointId?: string;
  /** the LangGraph checkpoint header as JSON text: opaque, and channel names may hold `.`/`$` */
  checkpoint: string;
  /** plain JSON so cross-thread listing can filter on it */
  metadata: Record<string, unknown>;
  /** schema 3, an encrypted event: its sealed metadata and header fields (metadata is then {}) */
  sealed?: TypedValue;
  eventId: string;
  ts: number;
}

export type HeadDoc = CheckpointDoc;

/** One channel version, stored as the event carried it (snapshot or append delta). */
export type BlobDoc = ThreadDoc & { checkpointNs: string; channel: string; version: ChannelVersion } & (
    | { kind: 'snapshot'; value: TypedValue }
    | { kind: 'append'; base: ChannelVersion; depth: number; items: TypedValue[] }
  );

export interface WriteDoc extends ThreadDoc {
  checkpointNs: string;
  checkpointId: string;
  taskId: string;
  taskPath: string;
  idx: number;
  channel: string;
  value: TypedValue;
}

export interface TombstoneDoc extends ThreadDoc {
  ts: number;
}

export interface OffsetDoc {
  _id: string;
  topic: string;
  partition: number;
  /** highest offset whose event (and every one before it on the partition) is applied */
  offset: number;
}

export type ProjectionDoc = CheckpointDoc | BlobDoc | WriteDoc | TombstoneDoc | OffsetDoc;

export function toPos(position: LogPosition): Pos {
  const offset = Number(position.offset);
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new ThreadlogError('corrupt-event', `log offset ${position.offset} is not a safe integer`, {
      details: { ...position },
    });
  }
  return { partition: position.partition, offset };
}

/** Total order on positions. Events of one thread share a partition, so offset decides. */
export function comparePos(a: Pos, b: Pos): number {
  return a.partition - b.partition || a.offset - b.offset;
}

/**
 * Checkpoint ids in LangGraph order (uuid6: string order is time order), compared as UTF-8
 * bytes, the order MongoDB and Redis use, so all three layers agree on any id.
 */
export function compareCheckpointIds(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Head order: checkpoint id first, then log position (a re-put of the same id). */
export function compareHeads(a: { checkpointId: string; pos: Pos }, b: { checkpointId: string; pos: Pos }): number {
  return compareCheckpointIds(a.checkpointId, b.checkpointId) || comparePos(a.pos, b.pos);
}
