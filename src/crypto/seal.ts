/**
 * Sealing: AES-256-GCM (node:crypto) with a thread's data key, a fresh random 96-bit nonce
 * per sealed byte string. The wire form is specified in docs/events.md ("Encryption"):
 *
 *   sealed = 0x01 | nonce (12 bytes) | ciphertext (as long as the plaintext) | GCM tag (16 bytes)
 *   AAD    = "threadlog/v1/" + purpose + 0x00 + thread id (UTF-8)
 *
 * The purpose (`value`, `fields`, `entry`) keeps a sealed string of one kind from being
 * accepted as another; the thread id keeps it to its thread. `sealEvent` is the whole
 * encryption step of the write path: one pure, synchronous function the benchmarks time
 * on its own.
 */
import { createCipheriv, createDecipheriv, randomFillSync, type KeyObject } from 'node:crypto';
import { ThreadlogError } from '../errors.ts';
import { SEALED_TYPE_PREFIX, needsSchema3, type ChannelValue, type CheckpointEvent, type CheckpointHeader, type ThreadlogEvent, type TypedValue } from '../events/types.ts';

export const SEAL_FORMAT = 0x01;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** bytes a sealed string adds to its plaintext */
export const SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

export type SealPurpose = 'value' | 'fields' | 'entry';

/** header fields left in clear: what the projection orders, links and resolves values by */
export const CLEAR_HEADER_FIELDS: readonly string[] = ['v', 'id', 'ts', 'channel_versions', 'versions_seen'];

const aadCache = new Map<string, Buffer>();
function aad(purpose: SealPurpose, threadId: string): Buffer {
  const k = `${purpose}\u0000${threadId}`;
  let b = aadCache.get(k);
  if (b === undefined) {
    b = Buffer.from(`threadlog/v1/${purpose}\u0000${threadId}`, 'utf8');
    // bounded: the AAD is cheap to rebuild, the map only spares a steady thread the allocation
    if (aadCache.size >= 4096) aadCache.clear();
    aadCache.set(k, b);
  }
  return b;
}

/**
 * Nonces come from a pool filled by the CSPRNG 512 at a time: the same random 96-bit nonces,
 * without a call into OpenSSL per value (a measurable share of sealing a small value).
 */
const NONCE_POOL = Buffer.alloc(NONCE_BYTES * 512);
let noncePos = NONCE_POOL.length;
function nextNonce(into: Buffer): void {
  if (noncePos === NONCE_POOL.length) {
    randomFillSync(NONCE_POOL);
    noncePos = 0;
  }
  NONCE_POOL.copy(into, 0, noncePos, noncePos + NONCE_BYTES);
  // never hand out the same pool bytes twice
  NONCE_POOL.fill(0, noncePos, noncePos + NONCE_BYTES);
  noncePos += NONCE_BYTES;
}

export function sealBytes(key: KeyObject, threadId: string, purpose: SealPurpose, plain: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(SEAL_OVERHEAD + plain.byteLength);
  out[0] = SEAL_FORMAT;
  const nonce = out.subarray(1, 1 + NONCE_BYTES);
  nextNonce(nonce);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad(purpose, threadId));
  const body = cipher.update(plain);
  body.copy(out, 1 + NONCE_BYTES);
  const rest = cipher.final();
  // GCM is a stream mode: update() returns every byte, final() none
  if (rest.length > 0) rest.copy(out, 1 + NONCE_BYTES + body.length);
  cipher.getAuthTag().copy(out, out.length - TAG_BYTES);
  return out;
}

function corrupt(threadId: string, message: string, cause?: unknown): ThreadlogError {
  return new ThreadlogError('corrupt-event', `thread ${JSON.stringify(threadId)}: ${message}`, { details: { threadId }, ...(cause === undefined ? {} : { cause }) });
}

export function openBytes(key: KeyObject, threadId: string, purpose: SealPurpose, sealed: Uint8Array): Buffer {
  if (sealed.byteLength < SEAL_OVERHEAD) throw corrupt(threadId, `a sealed ${purpose} is ${sealed.byteLength} bytes, shorter than the ${SEAL_OVERHEAD} bytes of nonce and tag`);
  if (sealed[0] !== SEAL_FORMAT) throw corrupt(threadId, `a sealed ${purpose} has format byte ${sealed[0]}, this reader knows ${SEAL_FORMAT}`);
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(1, 1 + NONCE_BYTES));
    decipher.setAAD(aad(purpose, threadId));
    decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
    const plain = decipher.update(buf.subarray(1 + NONCE_BYTES, buf.length - TAG_BYTES));
    decipher.final();
    return plain;
  } catch (cause) {
    // GCM authenticates: a flipped bit anywhere, another thread's key or another purpose all end here
    throw corrupt(threadId, `a sealed ${purpose} does not authenticate (tampered, or sealed with another key)`, cause);
  }
}

export function sealValue(key: KeyObject, threadId: string, tv: TypedValue): TypedValue {
  if (tv.type.startsWith(SEALED_TYPE_PREFIX)) return tv;
  return { type: SEALED_TYPE_PREFIX + tv.type, value: sealBytes(key, threadId, 'value', tv.value) };
}

export function openValue(key: KeyObject, threadId: string, tv: TypedValue): TypedValue {
  if (!tv.type.startsWith(SEALED_TYPE_PREFIX)) return tv;
  const plain = openBytes(key, threadId, 'value', tv.value);
  return { type: tv.type.slice(SEALED_TYPE_PREFIX.length), value: new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength) };
}

const sealChannelValue = (key: KeyObject, threadId: string, cv: ChannelValue): ChannelValue =>
  cv.kind === 'snapshot' ? { ...cv, value: sealValue(key, threadId, cv.value) } : { ...cv, items: cv.items.map((it) => sealValue(key, threadId, it)) };

export const openChannelValue = (key: KeyObject, threadId: string, cv: ChannelValue): ChannelValue =>
  cv.kind === 'snapshot' ? { ...cv, value: openValue(key, threadId, cv.value) } : { ...cv, items: cv.items.map((it) => openValue(key, threadId, it)) };

export interface SealedFields {
  metadata: Record<string, unknown>;
  /** header fields other than CLEAR_HEADER_FIELDS */
  checkpoint: Record<string, unknown>;
}

/** the header split into what stays in clear and what is sealed */
function splitHeader(header: CheckpointHeader): { clear: CheckpointHeader; extra: Record<string, unknown> } {
  const clear: Record<string, unknown> = {};
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(header)) (CLEAR_HEADER_FIELDS.includes(k) ? clear : extra)[k] = v;
  return { clear: clear as CheckpointHeader, extra };
}

export function sealFields(key: KeyObject, threadId: string, fields: SealedFields): TypedValue {
  let json: string;
  try {
    json = JSON.stringify(fields);
  } catch (cause) {
    throw new ThreadlogError('not-serializable', `checkpoint metadata is not JSON-serializable: ${(cause as Error).message}`, { cause });
  }
  return { type: `${SEALED_TYPE_PREFIX}json`, value: sealBytes(key, threadId, 'fields', Buffer.from(json, 'utf8')) };
}

export function openFields(key: KeyObject, threadId: string, sealed: TypedValue): SealedFields {
  const plain = openBytes(key, threadId, 'fields', sealed.value);
  let f: unknown;
  try {
    f = JSON.parse(plain.toString('utf8'));
  } catch (cause) {
    throw corrupt(threadId, 'sealed fields are not JSON', cause);
  }
  const o = f as Partial<SealedFields> | null;
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(o) || !isObject(o.metadata) || !isObject(o.checkpoint)) throw corrupt(threadId, 'sealed fields are not {"metadata": {…}, "checkpoint": {…}}');
  return { metadata: o.metadata, checkpoint: o.checkpoint };
}

/**
 * The encryption step of the write path: every channel value, pending-write value and the
 * metadata (with any header field beyond the clear ones) sealed with the thread's data key.
 * Deletes and erasures carry nothing to seal.
 */
export function sealEvent(event: ThreadlogEvent, key: KeyObject): ThreadlogEvent {
  const t = event.threadId;
  switch (event.type) {
    case 'checkpoint': {
      if (event.sealed !== undefined) return event;
      const { clear, extra } = splitHeader(event.checkpoint);
      const sealed: CheckpointEvent = {
        ...event,
        checkpoint: clear,
        metadata: {},
        sealed: sealFields(key, t, { metadata: event.metadata, checkpoint: extra }),
        values: event.values.map((v) => sealChannelValue(key, t, v)),
      };
      return sealed;
    }
    case 'writes':
      return { ...event, writes: event.writes.map((w) => ({ ...w, value: sealValue(key, t, w.value) })) };
    case 'thread-deleted':
    case 'thread-erased':
      return event;
  }
}

/** The event as it was before sealing (what a reader with the key sees). */
export function openEvent(event: ThreadlogEvent, key: KeyObject): ThreadlogEvent {
  const t = event.threadId;
  switch (event.type) {
    case 'checkpoint': {
      const { sealed, ...rest } = event;
      const fields = sealed === undefined ? undefined : openFields(key, t, sealed);
      return {
        ...rest,
        checkpoint: fields === undefined ? event.checkpoint : ({ ...fields.checkpoint, ...event.checkpoint } as CheckpointHeader),
        metadata: fields?.metadata ?? event.metadata,
        values: event.values.map((v) => openChannelValue(key, t, v)),
      };
    }
    case 'writes':
      return { ...event, writes: event.writes.map((w) => ({ ...w, value: openValue(key, t, w.value) })) };
    case 'thread-deleted':
    case 'thread-erased':
      return event;
  }
}

/** whether anything of the event is sealed (it needs the thread's key to be read) */
export const isSealedEvent = (event: ThreadlogEvent): boolean => event.type !== 'thread-erased' && needsSchema3(event);
