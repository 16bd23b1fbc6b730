/**
 * Projection layout 2: one document per event, one head per (thread, namespace) per batch.
 *
 * - `cp:<thread>:<ns>:<checkpoint>` — one per `checkpoint` event: the header, metadata, the
 *   new channel values inline (snapshots, or skip-delta items with the checkpoint id holding
 *   their base), `origins` (for every channel with a stored value: the checkpoint whose
 *   document holds it, so an older version is found by exact `_id`), and the event's link in
 *   its lane's hash chain. A value too large to sit inline goes to `blob` documents.
 * - `w:<thread>:<ns>:<checkpoint>:<task>:<offset>` — one per `writes` event, all of the task's
 *   writes and its link. LangGraph's rules (a regular write is kept once per task and idx, a
 *   special one — errors, interrupts — the newest wins) are applied when reading.
 * - `head:<thread>:<ns>` — one per lane (thread, namespace), written at most once per batch:
 *   the newest checkpoint in head order (without values) and the lane's hash-chain head. It
 *   is replaced only under the `chain.last` it was computed from (optimistic, by log
 *   position): a slower or older writer never moves it back.
 * - `tomb:<thread>` — the newest delete and the delete lane's chain; an erased thread's first erasure.
 * - `blob:<thread>:<ns>:<checkpoint>:<channel>:<part>` — parts of a spilled value.
 * Pure: types and ids only.
 */
import type { ChannelVersion, TypedValue } from '../../events/types.ts';
import type { Pos } from '../documents.ts';
import { encodeIdPart } from '../ids.ts';

export interface LaneChain {
  head: string;
  count: number;
  first: Pos;
  /** the last chained event: the lane's applied position */
  last: Pos;
}

export type StoredValue =
  | { channel: string; version: ChannelVersion; kind: 'snapshot'; value: TypedValue }
  | {
      channel: string;
      version: ChannelVersion;
      kind: 'append';
      base: ChannelVersion;
      /** the checkpoint whose document holds `base`; absent when it could not be found (broken) */
      baseCheckpoint?: string;
      depth: number;
      baseLength?: number;
      items: TypedValue[];
    }
  /** the value sits in `parts` blob documents (see SPILL_*), as the snapshot or append it is */
  | { channel: string; version: ChannelVersion; kind: 'spilled'; parts: number; bytes: number };

/** where a channel's value is stored (objects, not pairs: FerretDB refuses nested arrays) */
export interface Origin {
  channel: string;
  checkpoint: string;
}

export interface CheckpointDocV2 {
  _id: string;
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  parentCheckpointId?: string;
  /** the LangGraph header as JSON text (channel names may hold `.`/`$`) */
  checkpoint: string;
  metadata: Record<string, unknown>;
  /** schema 3, an encrypted event: its sealed metadata and header fields, as the event carried them */
  sealed?: TypedValue;
  eventId: string;
  ts: number;
  pos: Pos;
  values: StoredValue[];
  /** every channel of `channel_versions` with a stored value, and where it is stored */
  origins: Origin[];
  /** channels whose origin could not be told (parent not found): reads of them fail */
  unresolved?: string[];
  /** link after this event in its lane's chain; absent when projected without stored bytes */
  link?: string;
  /**
   * set by `threadlog prune` on a checkpoint kept only because kept checkpoints' values live
   * in it (a value holder): not read or listed as a checkpoint any more (ops/prune-v2.ts)
   */
  pruned?: true;
}

export interface WritesDocV2 {
  _id: string;
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  taskId: string;
  taskPath: string;
  writes: Array<{ idx: number; channel: string; value: TypedValue }>;
  pos: Pos;
  link?: string;
}

/** The head's checkpoint: a CheckpointDocV2 without values or link, naming the (channel, version) pairs its document stores. */
export type HeadCheckpoint = Omit<CheckpointDocV2, '_id' | 'values' | 'link'> & { own: Array<{ channel: string; version: ChannelVersion }> };

export interface HeadDocV2 {
  _id: string;
  threadId: string;
  checkpointNs: string;
  /** absent while the lane has only writes (or its thread was deleted since) */
  head?: HeadCheckpoint;
  chain?: LaneChain;
}

export interface TombstoneDocV2 {
  _id: string;
  threadId: string;
  pos: Pos;
  ts: number;
  /** the delete lane's chain (every delete and erasure of the thread) */
  chain?: LaneChain;
  /** the thread's first erasure (thread-erased): no event of it is projected any more */
  erased?: { pos: Pos; ts: number };
}

export interface BlobPartDocV2 {
  _id: string;
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  channel: string;
  part: number;
  /** the spilled StoredValue as an envelope-like JSON + bytes, split in parts */
  data: Uint8Array;
  pos: Pos;
}

/** A value whose serialized size exceeds this goes to blob documents (MongoDB caps a document at 16 MiB). */
export const SPILL_VALUE_BYTES = 4 * 1024 * 1024;
/** ... and so do the largest values while a document would exceed this */
export const SPILL_DOC_BYTES = 12 * 1024 * 1024;
/** bytes per blob part */
export const SPILL_PART_BYTES = 8 * 1024 * 1024;

const pad = (offset: number): string => String(offset).padStart(16, '0');
const join = (kind: string, parts: readonly string[]): string => [kind, ...parts.map(encodeIdPart)].join(':');

export const idsV2 = {
  writes: (thread: string, ns: string, checkpointId: string, taskId: string, pos: Pos): string =>
    `${join('w', [thread, ns, checkpointId, taskId])}:${pos.partition}-${pad(pos.offset)}`,
  blobPart: (thread: string, ns: string, checkpointId: string, channel: string, part: number): string => `${join('blob', [thread, ns, checkpointId, channel])}:${part}`,
};
