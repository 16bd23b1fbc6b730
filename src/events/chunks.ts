/**
 * Reassembles chunked events from the records of ONE partition, read in log order.
 *
 * The outcome is a pure function of the records seen, so every projector, rebuild and audit
 * reaches the same verdict on the same log. Rules (docs/events.md, "Chunking"):
 * - chunks of one event share key and chunk id and arrive with indexes 0..count-1 in order;
 *   chunks of other keys may sit in between;
 * - a chunk 0 or an unchunked record on a key whose sequence is unfinished abandons that
 *   sequence (its producer died or gave up and wrote something else);
 * - a skipped or repeated index abandons the sequence;
 * - a chunk that belongs to no open sequence is reported alone and disturbs nothing;
 * - a sequence that would push the buffered bytes over `maxPendingBytes`, or stays open for
 *   more than `maxSpanRecords` records of the partition, is abandoned.
 * An abandoned sequence is reported with its offsets and never returned as data.
 */
import { ThreadlogError } from '../errors.ts';
import {
  chunkHeaderNames,
  headerNames,
  headerString,
  keyString,
  parseCount,
  type RawRecord,
  type RecordHeaders,
} from './wire.ts';

export interface LogRecord extends RawRecord {
  /** Kafka offset, decimal string (int64) */
  offset: string;
}

/** A whole record: unchunked as read, or reassembled from its chunks. */
export interface AssembledRecord extends RawRecord {
  /** offset of the last chunk: the event's position in the log */
  offset: string;
  firstOffset: string;
  chunks: number;
}

export type IncompleteReason =
  | 'interrupted'
  | 'gap'
  | 'duplicate'
  | 'orphan'
  | 'inconsistent'
  | 'malformed'
  | 'too-large'
  | 'expired';

export interface IncompleteSequence {
  key: string | null;
  chunkId: string | undefined;
  reason: IncompleteReason;
  /** offsets of the records of this sequence that were seen, in log order */
  offsets: string[];
  expectedCount: number | undefined;
  /** an 'incomplete-chunks' error carrying all of the above, for dead-letters and logs */
  error: ThreadlogError;
}

export type ChunkResult =
  | { kind: 'complete'; record: AssembledRecord; incomplete: IncompleteSequence[] }
  | { kind: 'pending'; incomplete: IncompleteSequence[] }
  | { kind: 'incomplete'; incomplete: IncompleteSequence[] };

export interface ChunkAssemblerOptions {
  /** bytes buffered across all open sequences of the partition */
  maxPendingBytes: number;
  /** records of the partition a sequence may stay open for before it is abandoned */
  maxSpanRecords: number;
}

export const defaultChunkAssemblerOptions: ChunkAssemblerOptions = {
  maxPendingBytes: 256 * 1024 * 1024,
  maxSpanRecords: 1_000_000,
};

export interface ChunkAssembler {
  add(record: LogRecord): ChunkResult;
  /**
   * The first offset of the oldest open sequence. A consumer must not commit past it
   * (commit at most this offset), or a restart would skip the sequence's first chunks.
   */
  lowestPendingOffset(): string | undefined;
  readonly pendingBytes: number;
  readonly pendingSequences: number;
  /** forget everything, e.g. when the partition is revoked */
  clear(): void;
}

interface Pending {
  key: string | null;
  chunkId: string;
  count: number;
  totalBytes: number;
  crc: string | undefined;
  headers: RecordHeaders;
  rawKey: string | Buffer | null;
  parts: Buffer[];
  bytes: number;
  offsets: string[];
  firstOffset: bigint;
  startSeq: number;
}

// How many abandoned chunk ids to remember, only to label their stragglers with the reason.
const DEAD_IDS_REMEMBERED = 1024;

export function createChunkAssembler(options: Partial<ChunkAssemblerOptions> = {}): ChunkAssembler {
  const o = { ...defaultChunkAssemblerOptions, ...options };
  if (!(o.maxPendingBytes > 0) || !(o.maxSpanRecords > 0)) {
    throw new ThreadlogError('invalid-options', 'chunk assembler limits must be positive');
  }
  // keyed by record key (null keys share one slot)
  const pending = new Map<string | null, Pending>();
  const dead = new Map<string, IncompleteReason>();
  let pendingBytes = 0;
  let seq = 0;

  function report(
    key: string | null,
    chunkId: string | undefined,
    reason: IncompleteReason,
    offsets: string[],
    expectedCount: number | undefined,
  ): IncompleteSequence {
    if (chunkId !== undefined) {
      dead.set(`${key}\u0000${chunkId}`, reason);
      if (dead.size > DEAD_IDS_REMEMBERED) dead.delete(dead.keys().next().value!);
    }
    const error = new ThreadlogError(
      'incomplete-chunks',
      `chunked event ${chunkId ?? '?'} is incomplete (${reason}) at offsets ${offsets.join(',')}`,
      { details: { key, chunkId, reason, offsets, expectedCount } },
    );
    return { key, chunkId, reason, offsets, expectedCount, error };
  }

  function abandon(p: Pending, reason: IncompleteReason, extraOffset?: string): IncompleteSequence {
    pending.delete(p.key);
    pendingBytes -= p.bytes;
    const offsets = extraOffset === undefined ? p.offsets : [...p.offsets, extraOffset];
    return report(p.key, p.chunkId, reason, offsets, p.count);
  }

  function add(record: LogRecord): ChunkResult {
    seq++;
    const incomplete: IncompleteSequence[] = [];
    for (const p of pending.values()) {
      if (seq - p.startSeq > o.maxSpanRecords) incomplete.push(abandon(p, 'expired'));
    }
    const key = keyString(record.key);
    const h = record.headers ?? {};
    const countHeader = headerString(h, headerNames.chunkCount);
    const open = pending.get(key);

    if (countHeader === undefined || (countHeader === '1' && headerString(h, headerNames.chunkIndex) === '0')) {
      if (open !== undefined) incomplete.push(abandon(open, 'interrupted'));
      return {
        kind: 'complete',
        record: { ...record, firstOffset: record.offset, chunks: 1 },
        incomplete,
      };
    }

    const chunkId = headerString(h, headerNames.chunkId);
    const index = parseCount(headerString(h, headerNames.chunkIndex));
    const count = parseCount(countHeader);
    const totalBytes = parseCount(headerString(h, headerNames.chunkTotalBytes));
    const value = record.value;
    const alone = (reason: IncompleteReason): ChunkResult => {
      incomplete.push(report(key, chunkId, reason, [record.offset], count));
      return { kind: 'incomplete', incomplete };
    };
    if (
      chunkId === undefined || index === undefined || count === undefined || count < 1 ||
      index >= count || totalBytes === undefined || !Buffer.isBuffer(value)
    ) {
      if (open !== undefined) incomplete.push(abandon(open, 'interrupted'));
      return alone('malformed');
    }

    if (index === 0) {
      if (open !== undefined) incomplete.push(abandon(open, open.chunkId === chunkId ? 'duplicate' : 'interrupted'));
      if (totalBytes > o.maxPendingBytes || pendingBytes + value.length > o.maxPendingBytes) return alone('too-large');
      if (value.length > totalBytes) return alone('inconsistent');
      pending.set(key, {
        key,
        chunkId,
        count,
        totalBytes,
        crc: headerString(h, headerNames.crc32),
        headers: h,
        rawKey: record.key,
        parts: [value],
        bytes: value.length,
        offsets: [record.offset],
        firstOffset: BigInt(record.offset),
        startSeq: seq,
      });
      pendingBytes += value.length;
      return { kind: 'pending', incomplete };
    }

    if (open === undefined || open.chunkId !== chunkId) {
      // a straggler of a sequence already given up (or never started here): report it alone
      return alone(dead.get(`${key}\u0000${chunkId}`) ?? 'orphan');
    }
    if (count !== open.count || totalBytes !== open.totalBytes || headerString(h, headerNames.crc32) !== open.crc) {
      incomplete.push(abandon(open, 'inconsistent', record.offset));
      return { kind: 'incomplete', incomplete };
    }
    const expected = open.parts.length;
    if (index !== expected) {
      incomplete.push(abandon(open, index < expected ? 'duplicate' : 'gap', record.offset));
      return { kind: 'incomplete', incomplete };
    }
    if (open.bytes + value.length > open.totalBytes) {
      incomplete.push(abandon(open, 'inconsistent', record.offset));
      return { kind: 'incomplete', incomplete };
    }
    if (pendingBytes + value.length > o.maxPendingBytes) {
      incomplete.push(abandon(open, 'too-large', record.offset));
      return { kind: 'incomplete', incomplete };
    }
    open.parts.push(value);
    open.bytes += value.length;
    open.offsets.push(record.offset);
    pendingBytes += value.length;
    if (index < count - 1) return { kind: 'pending', incomplete };

    pending.delete(key);
    pendingBytes -= open.bytes;
    if (open.bytes !== open.totalBytes) {
      incomplete.push(report(key, chunkId, 'inconsistent', open.offsets, count));
      return { kind: 'incomplete', incomplete };
    }
    const headers: RecordHeaders = {};
    for (const name in open.headers) if (!chunkHeaderNames.includes(name)) headers[name] = open.headers[name];
    return {
      kind: 'complete',
      record: {
        key: open.rawKey,
        value: Buffer.concat(open.parts, open.totalBytes),
        headers,
        offset: record.offset,
        firstOffset: open.offsets[0]!,
        chunks: count,
      },
      incomplete,
    };
  }

  return {
    add,
    lowestPendingOffset() {
      let low: Pending | undefined;
      for (const p of pending.values()) if (low === undefined || p.firstOffset < low.firstOffset) low = p;
      return low?.offsets[0];
    },
    get pendingBytes() {
      return pendingBytes;
    },
    get pendingSequences() {
      return pending.size;
    },
    clear() {
      pending.clear();
      dead.clear();
      pendingBytes = 0;
    },
  };
}
