/**
 * Events of schema v2 (v1 events decode to the same shapes): what the log holds. These are the decoded, in-memory shapes; the wire
 * format (headers, envelope, compression, chunks) is in docs/events.md and src/events/codec.ts.
 *
 * Serialized values are always `{ type, value }` pairs as produced by a LangGraph
 * `SerializerProtocol.dumpsTyped` (type tag such as "json" or "bytes", then the bytes).
 */

/**
 * The newest schema this writer produces. An event that needs nothing of schema 3 (nothing
 * sealed, not an erasure) is still written as schema 2, so readers of schema 2 keep reading
 * a log written without encryption (`schemaFor`).
 */
export const SCHEMA_VERSION = 3;
/** the schemas readers decode (the log is forever: v1 events stay readable) */
export const SUPPORTED_SCHEMA_VERSIONS: readonly number[] = [1, 2, 3];

export const eventTypes = ['checkpoint', 'writes', 'thread-deleted', 'thread-erased'] as const;
export type EventType = (typeof eventTypes)[number];

/**
 * Sealed values (docs/events.md, "Encryption"): the type tag of a value encrypted with its
 * thread's data key is this prefix followed by the serializer's own tag, e.g. `sealed:json`.
 */
export const SEALED_TYPE_PREFIX = 'sealed:';

/** LangGraph channel versions are numbers or strings (`getNextVersion` decides). */
export type ChannelVersion = number | string;

export interface TypedValue {
  /** serializer type tag, e.g. "json", "bytes", "empty" */
  type: string;
  value: Uint8Array;
}

/**
 * A channel value as carried by a checkpoint event.
 * - `snapshot`: the whole serialized value.
 * - `append`: the value of `base` (an earlier version of the same channel, same thread and
 *   namespace) followed by `items`, each serialized on its own. `depth` is the version's
 *   position in its chain (the snapshot is 0). The reference writer uses skip-deltas: the
 *   base of position s is position s & (s - 1) (its lowest set bit cleared, as Subversion
 *   does), so a read walks at most log2(s) + 1 links and a write carries O(log n) items
 *   amortized, without periodic snapshots (events/deltas.ts).
 */
export type ChannelValue =
  | { kind: 'snapshot'; channel: string; version: ChannelVersion; value: TypedValue }
  | {
      kind: 'append';
      channel: string;
      version: ChannelVersion;
      base: ChannelVersion;
      depth: number;
      items: TypedValue[];
      /**
       * element count of the base value, when the writer knew it: lets a reader detect a
       * base that is not the value the writer extended (e.g. a forked thread reusing a
       * version) instead of returning a wrong list
       */
      baseLength?: number;
      /**
       * schema v2: the checkpoint id of the event (same thread and namespace) that carried
       * `base`, so a reader finds the base by exact id; absent in v1 events
       */
      baseCheckpoint?: string;
    };

/** The checkpoint without `channel_values`, in LangGraph's own field names. */
export interface CheckpointHeader {
  v: number;
  id: string;
  ts: string;
  channel_versions: Record<string, ChannelVersion>;
  versions_seen: Record<string, Record<string, ChannelVersion>>;
  /** any other field LangGraph adds (e.g. pending_sends in older versions), kept verbatim */
  [extra: string]: unknown;
}

/** LangGraph checkpoint metadata: plain JSON (source, step, parents, user keys). */
export type CheckpointMetadata = Record<string, unknown>;

interface EventBase {
  /** unique per event; lets consumers and audits name an event independent of its position */
  eventId: string;
  threadId: string;
  /** milliseconds since epoch, set by the writer */
  ts: number;
}

export interface CheckpointEvent extends EventBase {
  type: 'checkpoint';
  checkpointNs: string;
  checkpointId: string;
  parentCheckpointId: string | undefined;
  checkpoint: CheckpointHeader;
  metadata: CheckpointMetadata;
  /** only the channels whose versions are new in this save (LangGraph's `newVersions`) */
  values: ChannelValue[];
  /**
   * schema 3, encrypted events: the sealed JSON `{"metadata": …, "checkpoint": {…}}` — the
   * metadata and every header field other than `v`, `id`, `ts`, `channel_versions` and
   * `versions_seen`. When present, `metadata` is `{}` and the header holds only those fields.
   */
  sealed?: TypedValue;
}

export interface PendingWrite {
  idx: number;
  channel: string;
  value: TypedValue;
}

export interface WritesEvent extends EventBase {
  type: 'writes';
  checkpointNs: string;
  checkpointId: string;
  taskId: string;
  taskPath: string;
  writes: PendingWrite[];
}

export interface ThreadDeletedEvent extends EventBase {
  type: 'thread-deleted';
}

/**
 * schema 3: the thread was erased — its data key destroyed, so every sealed byte of it in the
 * log is unreadable. Like a delete, and more: no event of the thread, before or after it, is
 * ever projected again.
 */
export interface ThreadErasedEvent extends EventBase {
  type: 'thread-erased';
}

export type ThreadlogEvent = CheckpointEvent | WritesEvent | ThreadDeletedEvent | ThreadErasedEvent;

/** the events that end a thread's history (a delete, an erasure): they carry no namespace */
export type ThreadEndEvent = ThreadDeletedEvent | ThreadErasedEvent;

export function isThreadEnd(e: ThreadlogEvent): e is ThreadEndEvent {
  return e.type === 'thread-deleted' || e.type === 'thread-erased';
}

export const isSealedValue = (tv: TypedValue): boolean => tv.type.startsWith(SEALED_TYPE_PREFIX);

/** whether an event uses anything of schema 3 (sealed fields or values, an erasure) */
export function needsSchema3(e: ThreadlogEvent): boolean {
  switch (e.type) {
    case 'thread-erased':
      return true;
    case 'thread-deleted':
      return false;
    case 'checkpoint':
      return e.sealed !== undefined || e.values.some((v) => (v.kind === 'snapshot' ? isSealedValue(v.value) : v.items.some(isSealedValue)));
    case 'writes':
      return e.writes.some((w) => isSealedValue(w.value));
  }
}

/** the schema an event is written in: the oldest that can carry it */
export const schemaFor = (e: ThreadlogEvent): 2 | 3 => (needsSchema3(e) ? 3 : 2);

/** Where an event landed in the log. Offsets are decimal strings (Kafka offsets are int64). */
export interface LogPosition {
  partition: number;
  offset: string;
}

export interface Receipt extends LogPosition {
  topic: string;
}

/** A decoded event with the position of its (last) record in the log. */
export interface LoggedEvent {
  event: ThreadlogEvent;
  position: LogPosition;
  /** the stored bytes (after reassembly, before decompression), for audits and hash chains */
  raw: Uint8Array;
}
