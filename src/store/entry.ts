/**
 * The cache entry: one assembled checkpoint (header, metadata, channel values, pending
 * writes) as bytes, the same in L1 and L2 so an L2 hit fills L1 without re-encoding. Values
 * stay in the serializer's own bytes and are only deserialized on the way out, so callers
 * never share (and mutate) a cached object.
 *
 * Layout: "TLC1", u32 JSON length, JSON, then the values' bytes back to back. A payload
 * without the magic (written by another component) is treated as a miss, never guessed at.
 */
import type { CheckpointHeader, CheckpointMetadata, LogPosition, TypedValue } from '../events/types.ts';

const MAGIC = Buffer.from('TLC1');

export interface EntryWrite {
  taskId: string;
  channel: string;
  value: TypedValue;
}

export interface CacheEntry {
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  parentCheckpointId: string | undefined;
  header: CheckpointHeader;
  metadata: CheckpointMetadata;
  position: LogPosition;
  /** resolved channel values (deltas already applied), serialized */
  values: Array<[channel: string, value: TypedValue]>;
  writes: EntryWrite[];
  /**
   * Offset of the thread's partition the pending writes are known to reflect: writes can be
   * added to a checkpoint after it was saved, so this part of an entry can go stale.
   */
  writesAsOf: string;
}

interface Ref {
  t: string;
  o: number;
  l: number;
}

interface EntryJson {
  th: string;
  ns: string;
  id: string;
  pa?: string;
  h: CheckpointHeader;
  m: CheckpointMetadata;
  p: [number, string];
  v: Array<[string, Ref]>;
  w: Array<[string, string, Ref]>;
  a: string;
}

export function encodeEntry(e: CacheEntry): Buffer {
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const ref = (tv: TypedValue): Ref => {
    blobs.push(tv.value);
    const r = { t: tv.type, o: offset, l: tv.value.byteLength };
    offset += tv.value.byteLength;
    return r;
  };
  const json: EntryJson = {
    th: e.threadId,
    ns: e.checkpointNs,
    id: e.checkpointId,
    h: e.header,
    m: e.metadata,
    p: [e.position.partition, e.position.offset],
    v: e.values.map(([c, tv]) => [c, ref(tv)]),
    w: e.writes.map((w) => [w.taskId, w.channel, ref(w.value)]),
    a: e.writesAsOf,
  };
  if (e.parentCheckpointId !== undefined) json.pa = e.parentCheckpointId;
  const text = Buffer.from(JSON.stringify(json), 'utf8');
  const head = Buffer.alloc(8);
  MAGIC.copy(head, 0);
  head.writeUInt32BE(text.length, 4);
  return Buffer.concat([head, text, ...blobs]);
}

export function decodeEntry(buf: Buffer): CacheEntry | undefined {
  if (buf.length < 8 || !buf.subarray(0, 4).equals(MAGIC)) return undefined;
  const len = buf.readUInt32BE(4);
  if (8 + len > buf.length) return undefined;
  let j: EntryJson;
  try {
    j = JSON.parse(buf.subarray(8, 8 + len).toString('utf8')) as EntryJson;
  } catch {
    return undefined;
  }
  const base = 8 + len;
  const tv = (r: Ref): TypedValue => {
    const b = buf.subarray(base + r.o, base + r.o + r.l);
    return { type: r.t, value: new Uint8Array(b.buffer, b.byteOffset, b.byteLength) };
  };
  return {
    threadId: j.th,
    checkpointNs: j.ns,
    checkpointId: j.id,
    parentCheckpointId: j.pa,
    header: j.h,
    metadata: j.m,
    position: { partition: j.p[0], offset: j.p[1] },
    values: j.v.map(([c, r]) => [c, tv(r)]),
    writes: j.w.map(([taskId, channel, r]) => ({ taskId, channel, value: tv(r) })),
    writesAsOf: j.a,
  };
}
