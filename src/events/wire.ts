/**
 * Names and small helpers shared by the codec and the chunk assembler. The layout they
 * implement is specified in docs/events.md; change both together.
 */
import zlib from 'node:zlib';

export const headerNames = {
  type: 'tl-type',
  schema: 'tl-schema',
  encoding: 'tl-encoding',
  eventId: 'tl-event-id',
  /** CRC-32 (IEEE) of the whole stored payload, 8 lowercase hex digits */
  crc32: 'tl-crc32',
  chunkId: 'tl-chunk-id',
  chunkIndex: 'tl-chunk-index',
  chunkCount: 'tl-chunk-count',
  /** byte length of the whole stored payload, on every chunk */
  chunkTotalBytes: 'tl-chunk-total-bytes',
} as const;

export const chunkHeaderNames: readonly string[] = [
  headerNames.chunkId,
  headerNames.chunkIndex,
  headerNames.chunkCount,
  headerNames.chunkTotalBytes,
];

export type Encoding = 'zstd' | 'identity';

/** kafkajs hands headers over as Buffers (or arrays when a name repeats); we write strings */
export type HeaderValue = string | Buffer | (string | Buffer)[] | undefined;
export type RecordHeaders = Record<string, HeaderValue>;

/** A record as it comes back from the log, whole (unchunked or reassembled). */
export interface RawRecord {
  key: string | Buffer | null;
  value: Buffer | null;
  headers: RecordHeaders;
}

export function headerString(headers: RecordHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

export function keyString(key: string | Buffer | null | undefined): string | null {
  if (key === null || key === undefined) return null;
  return typeof key === 'string' ? key : key.toString('utf8');
}

/** Strict decimal parse: header values are ours or a foreign producer's, never trusted. */
export function parseCount(s: string | undefined): number | undefined {
  if (s === undefined || !/^(0|[1-9][0-9]{0,14})$/.test(s)) return undefined;
  return Number(s);
}

// zlib.crc32 appeared in Node 20.15; the table fallback keeps 20.10-20.14 working.
let crcTable: Uint32Array | undefined;
function crc32Fallback(data: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export function crc32Hex(data: Uint8Array): string {
  const crc = nativeCrc32 !== undefined ? nativeCrc32(data) : crc32Fallback(data);
  return crc.toString(16).padStart(8, '0');
}
