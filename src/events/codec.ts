/**
 * Events to Kafka records and back: envelope, zstd, CRC-32, chunking (docs/events.md).
 * Pure apart from zstd's thread pool; no Kafka client in here, so the same code serves the
 * SDK's appender, the projectors, the audit and foreign-language conformance tests.
 */
import { JsonPlusSerializer, type SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { compress, decompress } from '@mongodb-js/zstd';
import { ThreadlogError } from '../errors.ts';
import { buildEnvelope, envelopeSchema, parseEnvelope } from './envelope.ts';
import { SUPPORTED_SCHEMA_VERSIONS, isSealedValue, schemaFor, type ThreadlogEvent, type TypedValue } from './types.ts';
import {
  defaultValidationOptions,
  isEventType,
  serializeValue,
  validateEvent,
  type ValidationOptions,
} from './validate.ts';
import {
  crc32Hex,
  headerNames,
  headerString,
  keyString,
  parseCount,
  type Encoding,
  type RawRecord,
} from './wire.ts';

export interface EncodedRecord {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

export interface EventCodecOptions extends ValidationOptions {
  serializer: SerializerProtocol;
  /** envelopes larger than this many bytes are zstd-compressed */
  compressionThreshold: number;
  zstdLevel: number;
  /**
   * Largest record (key + headers + value) we hand to Kafka: the topic's max.message.bytes
   * (1048588 by default) minus a margin for the record framing. Larger events are chunked.
   */
  maxMessageBytes: number;
  /** largest stored payload of one event; beyond it a save fails with 'payload-too-large' */
  maxEventBytes: number;
}

export const defaultEventCodecOptions: EventCodecOptions = {
  ...defaultValidationOptions,
  serializer: new JsonPlusSerializer(),
  // @mongodb-js/zstd costs ~80 µs of CPU per call whatever the size (a thread-pool hop and a
  // fresh compression context): more than compressing a step's small delta is worth. Measured
  // on bench:client-like events (2026-12-07): 512 → 2048 took a checkpoint event's encode from
  // ~180-265 to ~50-90 µs of CPU, and the log from 773 to 1,398 bytes per event. Snapshots and
  // big tool outputs are still compressed. docs/BENCHMARKS.md has the trade-off.
  compressionThreshold: 2048,
  zstdLevel: 3,
  maxMessageBytes: 1_000_000,
  maxEventBytes: 128 * 1024 * 1024,
};

export interface EventCodec {
  readonly options: Readonly<EventCodecOptions>;
  /** Validates, then encodes into one record, or several ordered chunk records. */
  encode(event: ThreadlogEvent): Promise<EncodedRecord[]>;
  /** Decodes a whole record (unchunked, or reassembled by a ChunkAssembler). */
  decode(record: RawRecord): Promise<ThreadlogEvent>;
  /** decode, also returning the verified stored bytes (audit hash chains) */
  decodeWithRaw(record: RawRecord): Promise<{ event: ThreadlogEvent; raw: Buffer }>;
  /** the configured serializer, with failures mapped to 'not-serializable' */
  serialize(value: unknown): Promise<TypedValue>;
  deserialize(value: TypedValue): Promise<unknown>;
}

// Per record: Kafka's record framing (attributes, deltas, varint lengths) is under 30
// bytes; the rest of the margin covers header count varints and rounding.
const RECORD_FRAMING_BYTES = 64;

function headersBytes(headers: Record<string, string>): number {
  let n = 0;
  for (const k in headers) n += Buffer.byteLength(k) + Buffer.byteLength(headers[k]!) + 10;
  return n;
}

function invalidOption(name: string, why: string): never {
  throw new ThreadlogError('invalid-options', `event codec option ${name} ${why}`);
}

function checkOptions(o: EventCodecOptions): void {
  const positiveInt = (name: keyof EventCodecOptions, min = 1): void => {
    const v = o[name];
    if (typeof v !== 'number' || !(Number.isSafeInteger(v) || v === Number.POSITIVE_INFINITY) || v < min) {
      invalidOption(name, `must be an integer >= ${min}`);
    }
  };
  positiveInt('maxThreadIdBytes');
  positiveInt('maxCheckpointIdBytes');
  positiveInt('maxCheckpointNsBytes');
  positiveInt('compressionThreshold', 0);
  positiveInt('maxMessageBytes', 4096);
  positiveInt('maxEventBytes');
  if (!Number.isInteger(o.zstdLevel) || o.zstdLevel < 1 || o.zstdLevel > 22) invalidOption('zstdLevel', 'must be 1..22');
  if (typeof o.serializer?.dumpsTyped !== 'function' || typeof o.serializer.loadsTyped !== 'function') {
    invalidOption('serializer', 'must implement SerializerProtocol');
  }
}

/** bytes of an event's sealed values and fields (encrypted: incompressible) */
function sealedBytes(event: ThreadlogEvent): number {
  const of = (tv: TypedValue): number => (isSealedValue(tv) ? tv.value.byteLength : 0);
  switch (event.type) {
    case 'checkpoint':
      return (event.sealed === undefined ? 0 : event.sealed.value.byteLength) + event.values.reduce((n, v) => n + (v.kind === 'snapshot' ? of(v.value) : v.items.reduce((m, it) => m + of(it), 0)), 0);
    case 'writes':
      return event.writes.reduce((n, w) => n + of(w.value), 0);
    default:
      return 0;
  }
}

export function createEventCodec(options: Partial<EventCodecOptions> = {}): EventCodec {
  const o: EventCodecOptions = { ...defaultEventCodecOptions, ...options };
  checkOptions(o);

  async function encode(event: ThreadlogEvent): Promise<EncodedRecord[]> {
    validateEvent(event, o);
    const envelope = buildEnvelope(event);
    let stored: Buffer = envelope;
    let encoding: Encoding = 'identity';
    // sealed values are ciphertext, which does not compress: only the rest of the envelope counts
    if (envelope.length - sealedBytes(event) > o.compressionThreshold) {
      const compressed = await compress(envelope, o.zstdLevel);
      // incompressible values (images, already-compressed blobs) stay as they are
      if (compressed.length < envelope.length) {
        stored = compressed;
        encoding = 'zstd';
      }
    }
    if (stored.length > o.maxEventBytes) {
      throw new ThreadlogError('payload-too-large', `event is ${stored.length} bytes stored, the limit is ${o.maxEventBytes}`, {
        details: { bytes: stored.length, maxEventBytes: o.maxEventBytes },
      });
    }
    const headers: Record<string, string> = {
      [headerNames.type]: event.type,
      [headerNames.schema]: String(schemaFor(event)),
      [headerNames.encoding]: encoding,
      [headerNames.eventId]: event.eventId,
      [headerNames.crc32]: crc32Hex(stored),
    };
    const key = event.threadId;
    const overhead = Buffer.byteLength(key) + headersBytes(headers) + RECORD_FRAMING_BYTES;
    if (stored.length + overhead <= o.maxMessageBytes) return [{ key, value: stored, headers }];
    return split(key, stored, headers, event.eventId);
  }

  function split(key: string, stored: Buffer, headers: Record<string, string>, eventId: string): EncodedRecord[] {
    const total = String(stored.length);
    // size the chunk headers at their widest so every chunk fits, whatever its index
    const widest = {
      ...headers,
      [headerNames.chunkId]: eventId,
      [headerNames.chunkIndex]: total,
      [headerNames.chunkCount]: total,
      [headerNames.chunkTotalBytes]: total,
    };
    const chunkBytes = o.maxMessageBytes - Buffer.byteLength(key) - headersBytes(widest) - RECORD_FRAMING_BYTES;
    if (chunkBytes < 1024) {
      throw new ThreadlogError('invalid-options', `maxMessageBytes ${o.maxMessageBytes} leaves no room for a chunk beside key and headers`);
    }
    const count = Math.ceil(stored.length / chunkBytes);
    const records: EncodedRecord[] = [];
    for (let i = 0; i < count; i++) {
      records.push({
        key,
        // views, not copies: the producer serializes them into its request buffer anyway
        value: stored.subarray(i * chunkBytes, Math.min(stored.length, (i + 1) * chunkBytes)),
        headers: {
          ...headers,
          [headerNames.chunkId]: eventId,
          [headerNames.chunkIndex]: String(i),
          [headerNames.chunkCount]: String(count),
          [headerNames.chunkTotalBytes]: total,
        },
      });
    }
    return records;
  }

  async function decodeWithRaw(record: RawRecord): Promise<{ event: ThreadlogEvent; raw: Buffer }> {
    try {
      return await decodeUnsafe(record);
    } catch (e) {
      if (e instanceof ThreadlogError) throw e;
      throw new ThreadlogError('corrupt-event', `record does not decode: ${(e as Error)?.message}`, { cause: e });
    }
  }

  async function decodeUnsafe(record: RawRecord): Promise<{ event: ThreadlogEvent; raw: Buffer }> {
    const raw = storedBytes(record);
    const encoding = headerString(record.headers, headerNames.encoding);
    let envelope: Buffer;
    if (encoding === 'identity') envelope = raw;
    else {
      try {
        envelope = await decompress(raw);
      } catch (cause) {
        throw new ThreadlogError('corrupt-event', 'zstd payload does not decompress', { cause });
      }
    }
    if (String(envelopeSchema(envelope)) !== headerString(record.headers, headerNames.schema)) {
      throw new ThreadlogError('corrupt-event', `header schema version differs from the envelope's (${String(envelopeSchema(envelope))})`);
    }
    const event = parseEnvelope(envelope);
    if (event.type !== headerString(record.headers, headerNames.type)) {
      throw new ThreadlogError('corrupt-event', `header type differs from the envelope's ("${event.type}")`);
    }
    if (event.eventId !== headerString(record.headers, headerNames.eventId)) {
      throw new ThreadlogError('corrupt-event', `header event id differs from the envelope's ("${event.eventId}")`);
    }
    const key = keyString(record.key);
    if (key !== null && key !== event.threadId) {
      throw new ThreadlogError('corrupt-event', 'record key differs from the envelope thread id', { details: { eventId: event.eventId } });
    }
    return { event, raw };
  }

  return {
    options: o,
    encode,
    decodeWithRaw,
    decode: async (record) => (await decodeWithRaw(record)).event,
    serialize: (value) => serializeValue(o.serializer, value),
    deserialize: async (tv) => {
      if (isSealedValue(tv)) throw sealedWithoutKey();
      try {
        return await o.serializer.loadsTyped(tv.type, tv.value);
      } catch (cause) {
        throw new ThreadlogError('corrupt-event', `a stored "${tv.type}" value does not deserialize`, { cause });
      }
    },
  };
}

/**
 * The stored payload of a whole record (after reassembly, before decompression), once its
 * headers say it is an event we understand and its CRC matches. What an audit hashes.
 */
export function storedBytes(record: RawRecord): Buffer {
  const h = record.headers ?? {};
  const schema = headerString(h, headerNames.schema);
  if (schema === undefined) throw new ThreadlogError('corrupt-event', `record has no ${headerNames.schema} header`);
  // the schema version decides how to read everything else, so it is checked first
  if (!SUPPORTED_SCHEMA_VERSIONS.map(String).includes(schema)) {
    throw new ThreadlogError('unsupported-schema-version', `schema version "${schema}" is not supported (this reader knows ${SUPPORTED_SCHEMA_VERSIONS.join(', ')})`, {
      details: { schema },
    });
  }
  const type = headerString(h, headerNames.type);
  if (!isEventType(type)) {
    throw new ThreadlogError('unknown-event-type', `unknown event type ${JSON.stringify(type)}`, { details: { type } });
  }
  const count = headerString(h, headerNames.chunkCount);
  if (count !== undefined && parseCount(count) !== 1) {
    throw new ThreadlogError('incomplete-chunks', 'record is one chunk of a larger event: reassemble it first (ChunkAssembler)');
  }
  const encoding = headerString(h, headerNames.encoding);
  if (encoding !== 'zstd' && encoding !== 'identity') {
    throw new ThreadlogError('corrupt-event', `unknown encoding ${JSON.stringify(encoding)}`);
  }
  const value = record.value;
  if (!Buffer.isBuffer(value)) throw new ThreadlogError('corrupt-event', 'record has no value');
  const expected = headerString(h, headerNames.crc32);
  const actual = crc32Hex(value);
  if (expected?.toLowerCase() !== actual) {
    throw new ThreadlogError('corrupt-event', `checksum mismatch: header ${String(expected)}, payload ${actual}`, {
      details: { expected, actual },
    });
  }
  return value;
}


/** What a reader without the thread's key says of an encrypted value, instead of wrong data. */
export function sealedWithoutKey(): ThreadlogError {
  return new ThreadlogError('encryption-disabled', 'this value is encrypted (sealed with its thread\'s data key) and this reader has no master key: configure encryption (the store option `encryption`; THREADLOG_MASTER_KEY_FILE or THREADLOG_MASTER_KEY for the CLI)');
}
