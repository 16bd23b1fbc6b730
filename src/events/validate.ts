/**
 * Validation at the door: every check runs before anything is appended to the log, because
 * a bad event that reached the log stays there forever (retention is infinite) and every
 * projector would have to dead-letter it again on every rebuild.
 */
import type { SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { ThreadlogError, type ThreadlogErrorCode } from '../errors.ts';
import {
  eventTypes,
  SEALED_TYPE_PREFIX,
  type ChannelValue,
  type ChannelVersion,
  type CheckpointEvent,
  type EventType,
  type ThreadlogEvent,
  type TypedValue,
  type WritesEvent,
} from './types.ts';

export interface ValidationOptions {
  /** thread ids end up in Kafka keys, Mongo `_id`s and Redis keys: bound them */
  maxThreadIdBytes: number;
  maxCheckpointIdBytes: number;
  maxCheckpointNsBytes: number;
}

export const defaultValidationOptions: ValidationOptions = {
  maxThreadIdBytes: 1024,
  maxCheckpointIdBytes: 1024,
  maxCheckpointNsBytes: 1024,
};

// In `u` mode a well-formed surrogate pair is one code point, so this only matches lone
// halves: they cannot be encoded as UTF-8 and would come back from Kafka as U+FFFD.
const loneSurrogate = /\p{Surrogate}/u;

function fail(code: ThreadlogErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new ThreadlogError(code, message, details === undefined ? {} : { details });
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkIdString(
  code: ThreadlogErrorCode,
  what: string,
  value: unknown,
  maxBytes: number,
  allowEmpty: boolean,
): void {
  if (typeof value !== 'string') fail(code, `${what} must be a string, got ${typeOf(value)}`);
  if (value.length === 0 && !allowEmpty) fail(code, `${what} must not be empty`);
  // Ids are stored as strings by every layer: PostgreSQL (under FerretDB) refuses NUL in text,
  // and a lone surrogate has no UTF-8 form, so it would come back as U+FFFD, a different id.
  if (value.includes('\u0000')) fail(code, `${what} must not contain NUL (U+0000)`);
  if (LONE_SURROGATE.test(value)) fail(code, `${what} is not well-formed UTF-16 (a lone surrogate)`);
  // UTF-16 length is a cheap lower bound of the UTF-8 length, and each unit is at most 3 bytes
  if (value.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > maxBytes) fail(code, `${what} is ${bytes} UTF-8 bytes, the limit is ${maxBytes}`, { bytes, maxBytes });
  }
  if (loneSurrogate.test(value)) fail(code, `${what} is not well-formed Unicode (lone surrogate)`);
}

export function validateThreadId(threadId: unknown, options: ValidationOptions = defaultValidationOptions): asserts threadId is string {
  checkIdString('invalid-thread-id', 'thread id', threadId, options.maxThreadIdBytes, false);
}

export function validateCheckpointId(checkpointId: unknown, options: ValidationOptions = defaultValidationOptions): asserts checkpointId is string {
  checkIdString('invalid-checkpoint-id', 'checkpoint id', checkpointId, options.maxCheckpointIdBytes, false);
}

/** The root namespace is the empty string, so empty is valid here. */
export function validateCheckpointNs(checkpointNs: unknown, options: ValidationOptions = defaultValidationOptions): asserts checkpointNs is string {
  checkIdString('invalid-checkpoint-ns', 'checkpoint namespace', checkpointNs, options.maxCheckpointNsBytes, true);
}

export function isEventType(type: unknown): type is EventType {
  return typeof type === 'string' && (eventTypes as readonly string[]).includes(type);
}

function typeOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isChannelVersion(v: unknown): v is ChannelVersion {
  return (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'string';
}

function checkVersionMap(map: unknown, what: string): void {
  if (!isPlainRecord(map)) fail('invalid-checkpoint', `${what} must be an object`);
  for (const k in map) {
    if (!isChannelVersion(map[k])) fail('invalid-checkpoint', `${what}.${k} must be a number or a string`);
  }
}

/** LangGraph's checkpoint without channel values, as the event carries it. */
export function validateCheckpointHeader(checkpoint: unknown, checkpointId: string): void {
  if (!isPlainRecord(checkpoint)) fail('invalid-checkpoint', `checkpoint must be an object, got ${typeOf(checkpoint)}`);
  if (typeof checkpoint.v !== 'number') fail('invalid-checkpoint', 'checkpoint.v must be a number');
  if (checkpoint.id !== checkpointId) fail('invalid-checkpoint', 'checkpoint.id must equal the checkpoint id');
  if (typeof checkpoint.ts !== 'string') fail('invalid-checkpoint', 'checkpoint.ts must be a string');
  checkVersionMap(checkpoint.channel_versions, 'checkpoint.channel_versions');
  const seen = checkpoint.versions_seen;
  if (!isPlainRecord(seen)) fail('invalid-checkpoint', 'checkpoint.versions_seen must be an object');
  for (const node in seen) checkVersionMap(seen[node], `checkpoint.versions_seen.${node}`);
  if ('channel_values' in checkpoint) {
    fail('invalid-checkpoint', 'checkpoint must not carry channel_values: they travel as event values');
  }
}

export function validateTypedValue(v: unknown, what: string): asserts v is TypedValue {
  if (!isPlainRecord(v) || typeof v.type !== 'string' || v.type.length === 0 || !(v.value instanceof Uint8Array)) {
    fail('not-serializable', `${what} must be a serialized { type, value: Uint8Array } pair`);
  }
}

function validateChannelValue(cv: unknown, i: number, channelVersions: Record<string, unknown>): asserts cv is ChannelValue {
  const what = `values[${i}]`;
  if (!isPlainRecord(cv)) fail('invalid-checkpoint', `${what} must be an object`);
  if (typeof cv.channel !== 'string') fail('invalid-checkpoint', `${what}.channel must be a string`);
  if (!isChannelVersion(cv.version)) fail('invalid-checkpoint', `${what}.version must be a number or a string`);
  // a value whose version the checkpoint does not name could never be read back
  if (channelVersions[cv.channel] !== cv.version) {
    fail('invalid-checkpoint', `${what}: version of channel "${cv.channel}" differs from checkpoint.channel_versions`);
  }
  if (cv.kind === 'snapshot') {
    validateTypedValue(cv.value, `${what}.value`);
  } else if (cv.kind === 'append') {
    if (!isChannelVersion(cv.base) || cv.base === cv.version) {
      fail('invalid-checkpoint', `${what}.base must be a version other than the value's own`);
    }
    if (!Number.isSafeInteger(cv.depth) || (cv.depth as number) < 1) fail('invalid-checkpoint', `${what}.depth must be an integer >= 1`);
    if (cv.baseLength !== undefined && (!Number.isSafeInteger(cv.baseLength) || (cv.baseLength as number) < 0)) {
      fail('invalid-checkpoint', `${what}.baseLength must be an integer >= 0`);
    }
    if (cv.baseCheckpoint !== undefined && (typeof cv.baseCheckpoint !== 'string' || cv.baseCheckpoint.length === 0)) {
      fail('invalid-checkpoint', `${what}.baseCheckpoint must be a checkpoint id`);
    }
    if (!Array.isArray(cv.items)) fail('invalid-checkpoint', `${what}.items must be an array`);
    cv.items.forEach((item, j) => validateTypedValue(item, `${what}.items[${j}]`));
  } else {
    fail('invalid-checkpoint', `${what}.kind must be "snapshot" or "append"`);
  }
}

function validateCheckpointEvent(e: CheckpointEvent, options: ValidationOptions): void {
  validateCheckpointNs(e.checkpointNs, options);
  validateCheckpointId(e.checkpointId, options);
  // null tolerated for JS callers; it is written as null and read back as undefined
  if (e.parentCheckpointId != null) validateCheckpointId(e.parentCheckpointId, options);
  validateCheckpointHeader(e.checkpoint, e.checkpointId);
  if (!isPlainRecord(e.metadata)) fail('invalid-checkpoint', `metadata must be an object, got ${typeOf(e.metadata)}`);
  if (e.sealed !== undefined) {
    validateTypedValue(e.sealed, 'sealed');
    if (!e.sealed.type.startsWith(SEALED_TYPE_PREFIX)) fail('invalid-checkpoint', `sealed fields must be a sealed value (type "${SEALED_TYPE_PREFIX}…"), got type "${e.sealed.type}"`);
    if (Object.keys(e.metadata).length > 0) fail('invalid-checkpoint', 'an event with sealed fields carries its metadata inside them: metadata must be {}');
  }
  if (!Array.isArray(e.values)) fail('invalid-checkpoint', 'values must be an array');
  const seen = new Set<string>();
  for (let i = 0; i < e.values.length; i++) {
    const cv: unknown = e.values[i];
    validateChannelValue(cv, i, e.checkpoint.channel_versions);
    if (seen.has(cv.channel)) fail('invalid-checkpoint', `channel "${cv.channel}" appears twice in values`);
    seen.add(cv.channel);
  }
}

function validateWritesEvent(e: WritesEvent, options: ValidationOptions): void {
  validateCheckpointNs(e.checkpointNs, options);
  validateCheckpointId(e.checkpointId, options);
  if (typeof e.taskId !== 'string' || e.taskId.length === 0) fail('invalid-event', 'taskId must be a non-empty string');
  if (typeof e.taskPath !== 'string') fail('invalid-event', 'taskPath must be a string');
  if (!Array.isArray(e.writes)) fail('invalid-event', 'writes must be an array');
  for (let i = 0; i < e.writes.length; i++) {
    const w: unknown = e.writes[i];
    // idx is negative for LangGraph's special channels (ERROR, INTERRUPT, ...)
    if (!isPlainRecord(w) || !Number.isSafeInteger(w.idx) || typeof w.channel !== 'string') {
      fail('invalid-event', `writes[${i}] must be { idx: integer, channel: string, value }`);
    }
    validateTypedValue(w.value, `writes[${i}].value`);
  }
}

/** Event ids name chunk sequences and travel in headers: short printable ASCII. */
const eventIdPattern = /^[\x21-\x7e]{1,128}$/;

/**
 * Checks a whole event. Cheap enough to run on every save (no serialization, no copies);
 * JSON-serializability of metadata and the header is checked by the codec, which has to
 * stringify them anyway.
 */
export function validateEvent(event: unknown, options: ValidationOptions = defaultValidationOptions): asserts event is ThreadlogEvent {
  if (!isPlainRecord(event)) fail('invalid-event', `an event must be an object, got ${typeOf(event)}`);
  if (!isEventType(event.type)) {
    fail('unknown-event-type', `unknown event type ${JSON.stringify(event.type)}`, { type: event.type });
  }
  if (typeof event.eventId !== 'string' || !eventIdPattern.test(event.eventId)) {
    fail('invalid-event', 'eventId must be 1-128 printable ASCII characters');
  }
  validateThreadId(event.threadId, options);
  if (typeof event.ts !== 'number' || !Number.isFinite(event.ts)) fail('invalid-event', 'ts must be a finite number');
  const e = event as unknown as ThreadlogEvent;
  if (e.type === 'checkpoint') validateCheckpointEvent(e, options);
  else if (e.type === 'writes') validateWritesEvent(e, options);
}

// What JsonPlusSerializer's fast-safe-stringify returns instead of throwing (BigInt, a
// throwing toJSON): a valid JSON string that would silently replace the user's value.
const unableToSerialize = Buffer.from(JSON.stringify('[unable to serialize, circular reference is too complex to analyze]'));
const circularMarker = Buffer.from('"[Circular]"');

function hasCycle(root: unknown): boolean {
  const stack = new Set<object>();
  const visit = (v: unknown): boolean => {
    if (typeof v !== 'object' || v === null) return false;
    if (stack.has(v)) return true;
    stack.add(v);
    let found = false;
    const children = v instanceof Map ? [...v.keys(), ...v.values()] : v instanceof Set ? [...v] : Object.values(v);
    for (const c of children) if ((found = visit(c))) break;
    stack.delete(v);
    return found;
  };
  return visit(root);
}

/**
 * Serializes one value with the LangGraph serializer, turning every way it can fail —
 * including the silent ones, where JsonPlusSerializer writes a placeholder string for a
 * BigInt or a circular reference — into a 'not-serializable' error.
 */
export async function serializeValue(serializer: SerializerProtocol, value: unknown, what = 'value'): Promise<TypedValue> {
  let type: unknown;
  let bytes: unknown;
  try {
    [type, bytes] = await serializer.dumpsTyped(value);
  } catch (cause) {
    throw new ThreadlogError('not-serializable', `${what} cannot be serialized: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
  if (typeof type !== 'string' || type.length === 0 || !(bytes instanceof Uint8Array)) {
    fail('not-serializable', `the serializer returned no [type, Uint8Array] pair for ${what}`);
  }
  // the prefix marks encrypted values (docs/events.md): a serializer's own tag must not look like one
  if (type.startsWith(SEALED_TYPE_PREFIX)) fail('not-serializable', `the serializer returned the type tag "${type}" for ${what}: tags starting with "${SEALED_TYPE_PREFIX}" are reserved for encrypted values`);
  if (type === 'json') {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buf.equals(unableToSerialize)) fail('not-serializable', `${what} cannot be serialized (BigInt or a throwing toJSON?)`);
    // the marker is rare in real data; only then pay for a walk to tell a cycle from a string
    if (buf.includes(circularMarker) && hasCycle(value)) fail('not-serializable', `${what} contains a circular reference`);
  }
  return { type, value: bytes };
}
