/**
 * The binary envelope (docs/events.md, "Envelope"): a small JSON document describing the
 * event, followed by the serialized values as raw bytes that the JSON references by offset
 * and length. Serialized values are never base64'd into JSON: that would cost a third more
 * bytes and two passes over every value, and values are most of an event's size.
 *
 *   0..2  "TLE"   3  schema version   4..7  JSON length (u32 BE)   8..  JSON   then blobs
 *
 * The schema byte is the oldest schema that can carry the event (types.ts `schemaFor`): 3 for
 * sealed (encrypted) events and erasures, 2 otherwise.
 */
import { ThreadlogError, isThreadlogError } from '../errors.ts';
import { SUPPORTED_SCHEMA_VERSIONS, schemaFor, type ChannelValue, type ThreadlogEvent, type TypedValue } from './types.ts';
import { validateEvent, type ValidationOptions } from './validate.ts';

export const ENVELOPE_MAGIC = Buffer.from('TLE', 'latin1');
export const ENVELOPE_PRELUDE_BYTES = 8;

interface BlobRef {
  type: string;
  offset: number;
  length: number;
}

/**
 * Builds the uncompressed envelope in one allocation; each value is copied exactly once.
 * Assumes a validated event.
 */
export function buildEnvelope(event: ThreadlogEvent): Buffer {
  const blobs: Uint8Array[] = [];
  let blobBytes = 0;
  const ref = (tv: TypedValue): BlobRef => {
    const r = { type: tv.type, offset: blobBytes, length: tv.value.byteLength };
    blobs.push(tv.value);
    blobBytes += r.length;
    return r;
  };
  const doc = toDocument(event, ref);
  let json: string;
  try {
    json = JSON.stringify(doc);
  } catch (cause) {
    throw new ThreadlogError('not-serializable', `event metadata or checkpoint is not JSON-serializable: ${(cause as Error).message}`, { cause });
  }
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  const buf = Buffer.allocUnsafe(ENVELOPE_PRELUDE_BYTES + jsonBytes + blobBytes);
  ENVELOPE_MAGIC.copy(buf, 0);
  buf[3] = schemaFor(event);
  buf.writeUInt32BE(jsonBytes, 4);
  buf.write(json, ENVELOPE_PRELUDE_BYTES, 'utf8');
  let pos = ENVELOPE_PRELUDE_BYTES + jsonBytes;
  for (const b of blobs) {
    buf.set(b, pos);
    pos += b.byteLength;
  }
  return buf;
}

function toDocument(event: ThreadlogEvent, ref: (tv: TypedValue) => BlobRef): Record<string, unknown> {
  const base = { type: event.type, eventId: event.eventId, threadId: event.threadId, ts: event.ts };
  switch (event.type) {
    case 'checkpoint':
      return {
        ...base,
        checkpointNs: event.checkpointNs,
        checkpointId: event.checkpointId,
        parentCheckpointId: event.parentCheckpointId ?? null,
        // v2: the header's id is the event's checkpointId (validated), written once
        checkpoint: withoutId(event.checkpoint),
        // schema 3: a sealed event's metadata is inside `sealed`, nothing of it in clear
        ...(event.sealed === undefined ? { metadata: event.metadata } : { sealed: ref(event.sealed) }),
        values: event.values.map((cv) =>
          cv.kind === 'snapshot'
            ? { kind: cv.kind, channel: cv.channel, version: cv.version, value: ref(cv.value) }
            : cv.baseCheckpoint === undefined
              ? missingBaseCheckpoint(cv.channel, cv.version)
              : {
                kind: cv.kind,
                channel: cv.channel,
                version: cv.version,
                base: cv.base,
                depth: cv.depth,
                ...(cv.baseLength === undefined ? {} : { baseLength: cv.baseLength }),
                ...(cv.baseCheckpoint === undefined ? {} : { baseCheckpoint: cv.baseCheckpoint }),
                items: cv.items.map(ref),
              },
        ),
      };
    case 'writes':
      return {
        ...base,
        checkpointNs: event.checkpointNs,
        checkpointId: event.checkpointId,
        taskId: event.taskId,
        taskPath: event.taskPath,
        writes: event.writes.map((w) => ({ idx: w.idx, channel: w.channel, value: ref(w.value) })),
      };
    case 'thread-deleted':
    case 'thread-erased':
      return base;
  }
}

function withoutId(header: Record<string, unknown>): Record<string, unknown> {
  const { id: _id, ...rest } = header;
  return rest;
}

/** the v2 header with its id back where LangGraph puts it (after `v`), so it prints as written */
function withId(header: unknown, id: unknown): unknown {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return header;
  const { v, ...rest } = header as Record<string, unknown>;
  return v === undefined ? { id, ...rest } : { v, id, ...rest };
}

function corrupt(message: string, cause?: unknown): ThreadlogError {
  return new ThreadlogError('corrupt-event', message, cause === undefined ? {} : { cause });
}

// Decoding must not reject what a valid producer wrote under a larger configured limit.
const lenient: ValidationOptions = {
  maxThreadIdBytes: Number.POSITIVE_INFINITY,
  maxCheckpointIdBytes: Number.POSITIVE_INFINITY,
  maxCheckpointNsBytes: Number.POSITIVE_INFINITY,
};

/**
 * Parses an uncompressed envelope. Values are views into `buf` (no copies), so they keep
 * it alive as long as they are referenced.
 */
export function parseEnvelope(buf: Buffer): ThreadlogEvent {
  if (buf.length < ENVELOPE_PRELUDE_BYTES || buf.compare(ENVELOPE_MAGIC, 0, 3, 0, 3) !== 0) {
    throw corrupt('payload is not a threadlog envelope (bad magic)');
  }
  const schema = buf[3]!;
  if (!SUPPORTED_SCHEMA_VERSIONS.includes(schema)) {
    throw new ThreadlogError('unsupported-schema-version', `envelope schema version ${schema} is not supported (this reader knows ${SUPPORTED_SCHEMA_VERSIONS.join(', ')})`);
  }
  const jsonEnd = ENVELOPE_PRELUDE_BYTES + buf.readUInt32BE(4);
  if (jsonEnd > buf.length) throw corrupt('envelope truncated: JSON document runs past the end');
  let doc: unknown;
  try {
    doc = JSON.parse(buf.toString('utf8', ENVELOPE_PRELUDE_BYTES, jsonEnd));
  } catch (cause) {
    throw corrupt('envelope JSON document does not parse', cause);
  }
  const blobs = buf.subarray(jsonEnd);
  const blob = (r: unknown): TypedValue => {
    const o = r as Partial<BlobRef> | null;
    if (
      typeof o !== 'object' || o === null || typeof o.type !== 'string' || o.type.length === 0 ||
      !Number.isSafeInteger(o.offset) || !Number.isSafeInteger(o.length) ||
      o.offset! < 0 || o.length! < 0 || o.offset! + o.length! > blobs.length
    ) {
      throw corrupt('envelope value reference is malformed or out of bounds');
    }
    return { type: o.type, value: blobs.subarray(o.offset, o.offset! + o.length!) };
  };
  try {
    const event = fromDocument(doc, blob, schema);
    validateEvent(event, lenient);
    return event;
  } catch (e) {
    if (isThreadlogError(e, 'corrupt-event') || isThreadlogError(e, 'unknown-event-type')) throw e;
    throw corrupt(`envelope does not hold a valid event: ${(e as Error).message}`, e);
  }
}

/** The envelope's schema byte of a stored (uncompressed) payload; undefined if it is not one. */
export function envelopeSchema(buf: Buffer): number | undefined {
  return buf.length >= ENVELOPE_PRELUDE_BYTES && buf.compare(ENVELOPE_MAGIC, 0, 3, 0, 3) === 0 ? buf[3] : undefined;
}

function fromDocument(doc: unknown, blob: (r: unknown) => TypedValue, schema: number): ThreadlogEvent {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw corrupt('envelope JSON is not an object');
  const d = doc as Record<string, unknown>;
  const base = { eventId: d.eventId as string, threadId: d.threadId as string, ts: d.ts as number };
  const list = (v: unknown, what: string): unknown[] => {
    if (!Array.isArray(v)) throw corrupt(`envelope field ${what} is not an array`);
    return v;
  };
  switch (d.type) {
    case 'checkpoint':
      return {
        type: 'checkpoint',
        ...base,
        checkpointNs: d.checkpointNs as string,
        checkpointId: d.checkpointId as string,
        parentCheckpointId: d.parentCheckpointId === null ? undefined : (d.parentCheckpointId as string | undefined),
        // v1 wrote the header's id; v2 leaves it to checkpointId
        checkpoint: (schema >= 2 ? withId(d.checkpoint, d.checkpointId) : d.checkpoint) as never,
        // schema 3: sealed metadata (and header fields) instead of clear ones
        ...(schema >= 3 && d.sealed !== undefined ? { metadata: {}, sealed: blob(d.sealed) } : { metadata: d.metadata as Record<string, unknown> }),
        values: list(d.values, 'values').map((v): ChannelValue => {
          const cv = v as Record<string, unknown>;
          if (cv?.kind === 'append') {
            if (schema >= 2 && cv.baseCheckpoint === undefined) missingBaseCheckpoint(cv.channel, cv.version);
            return {
              kind: 'append',
              channel: cv.channel as string,
              version: cv.version as string,
              base: cv.base as string,
              depth: cv.depth as number,
              ...(cv.baseLength === undefined ? {} : { baseLength: cv.baseLength as number }),
              ...(cv.baseCheckpoint === undefined ? {} : { baseCheckpoint: cv.baseCheckpoint as string }),
              items: list(cv.items, 'items').map(blob),
            };
          }
          return { kind: cv?.kind as 'snapshot', channel: cv?.channel as string, version: cv?.version as string, value: blob(cv?.value) };
        }),
      };
    case 'writes':
      return {
        type: 'writes',
        ...base,
        checkpointNs: d.checkpointNs as string,
        checkpointId: d.checkpointId as string,
        taskId: d.taskId as string,
        taskPath: d.taskPath as string,
        writes: list(d.writes, 'writes').map((w) => {
          const pw = w as Record<string, unknown> | null;
          return { idx: pw?.idx as number, channel: pw?.channel as string, value: blob(pw?.value) };
        }),
      };
    case 'thread-deleted':
      return { type: 'thread-deleted', ...base };
    case 'thread-erased':
      if (schema < 3) throw corrupt(`a thread-erased event needs schema 3, the envelope says ${schema}`);
      return { type: 'thread-erased', ...base };
    default:
      throw new ThreadlogError('unknown-event-type', `unknown event type ${JSON.stringify(d.type)} in envelope`);
  }
}

/**
 * Schema 2 appends name the checkpoint that carried their base (`baseCheckpoint`): a skip-delta
 * base is often older than the parent, and the projection finds a value only through the
 * checkpoint holding it (projection/v2). Schema 1 appends build on the parent's version.
 */
function missingBaseCheckpoint(channel: unknown, version: unknown): never {
  throw new ThreadlogError('invalid-checkpoint', `the append of channel ${JSON.stringify(channel)} version ${JSON.stringify(version)} has no baseCheckpoint: schema 2 appends must name the checkpoint that carried their base (docs/events.md)`);
}
