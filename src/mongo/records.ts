/**
 * Stored documents turned back into the shapes callers use: the checkpoint header parsed,
 * metadata keys unescaped, BSON Binary back to Uint8Array, positions as LogPosition.
 */
import { Binary, type Document } from 'mongodb';
import type { ChannelValue, CheckpointHeader, CheckpointMetadata, LogPosition, TypedValue } from '../events/types.ts';
import type { BlobDoc, CheckpointDoc, Pos, WriteDoc } from '../projection/documents.ts';
import { fromStoredMetadata } from '../projection/metadata.ts';

export interface CheckpointRecord {
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  parentCheckpointId: string | undefined;
  checkpoint: CheckpointHeader;
  metadata: CheckpointMetadata;
  eventId: string;
  ts: number;
  position: LogPosition;
  /**
   * layout 2: for every channel with a stored value, the checkpoint whose document holds it
   * (a versioned channel not named here is empty); absent in layout 1 (values by version)
   */
  origins?: Record<string, string>;
  /** layout 2: channels whose value could not be located when projected (reads of them fail) */
  unresolved?: string[];
  /** an encrypted event's sealed metadata and header fields (metadata is {} then); store/sealed-projection.ts opens them */
  sealed?: TypedValue;
}

export interface WriteRecord {
  taskId: string;
  taskPath: string;
  idx: number;
  channel: string;
  value: TypedValue;
  position: LogPosition;
}

export const toLogPosition = (pos: Pos): LogPosition => ({ partition: pos.partition, offset: String(pos.offset) });

/** A plain Uint8Array view (not a Buffer), so values compare equal to what was written. */
function bytes(v: unknown): Uint8Array {
  const b = v instanceof Binary ? v.buffer.subarray(0, v.position) : (v as Uint8Array);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
const typed = (v: TypedValue): TypedValue => ({ type: v.type, value: bytes(v.value) });

export function toCheckpointRecord(d: Document): CheckpointRecord {
  const doc = d as CheckpointDoc & { origins?: Array<{ channel: string; checkpoint: string }>; unresolved?: string[] };
  return {
    ...(doc.origins === undefined ? {} : { origins: Object.fromEntries(doc.origins.map((o) => [o.channel, o.checkpoint])) }),
    ...(doc.unresolved === undefined || doc.unresolved.length === 0 ? {} : { unresolved: doc.unresolved }),
    ...(doc.sealed === undefined ? {} : { sealed: typed(doc.sealed) }),
    threadId: doc.threadId,
    checkpointNs: doc.checkpointNs,
    checkpointId: doc.checkpointId,
    parentCheckpointId: doc.parentCheckpointId ?? undefined,
    checkpoint: JSON.parse(doc.checkpoint) as CheckpointHeader,
    metadata: fromStoredMetadata(doc.metadata),
    eventId: doc.eventId,
    ts: doc.ts,
    position: toLogPosition(doc.pos),
  };
}

export function toChannelValue(d: Document): ChannelValue {
  const doc = d as BlobDoc;
  return doc.kind === 'snapshot'
    ? { kind: 'snapshot', channel: doc.channel, version: doc.version, value: typed(doc.value) }
    : { kind: 'append', channel: doc.channel, version: doc.version, base: doc.base, depth: doc.depth, items: doc.items.map(typed) };
}

export function toWriteRecord(d: Document): WriteRecord {
  const doc = d as WriteDoc;
  return { taskId: doc.taskId, taskPath: doc.taskPath, idx: doc.idx, channel: doc.channel, value: typed(doc.value), position: toLogPosition(doc.pos) };
}

/** A stored document with BSON Binary values as Uint8Array, to compare with the in-memory projection. */
export function plainDoc<T>(v: T): T {
  if (v instanceof Binary) return bytes(v) as T;
  if (Array.isArray(v)) return v.map(plainDoc) as T;
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainDoc(x)])) as T;
}
