/**
 * Poison records: what could not be projected, sent to `<prefix>.dead-letter` byte for byte
 * with the original headers, plus headers saying why and where it came from, so a fixed
 * codec (or a person) can replay it. One dead-letter record per original record: a broken
 * chunk sequence yields one per chunk that was seen.
 */
import type { LogRecord } from '../events/chunks.ts';
import type { RecordHeaders } from '../events/wire.ts';

export const deadLetterHeaderNames = {
  /** error code, for chunks `incomplete-chunks:<reason>` */
  reason: 'tl-dl-reason',
  message: 'tl-dl-message',
  topic: 'tl-dl-topic',
  partition: 'tl-dl-partition',
  offset: 'tl-dl-offset',
  /** when the projector gave up on it, ms since epoch */
  ts: 'tl-dl-ts',
} as const;

export interface Poison {
  record: LogRecord;
  reason: string;
  message: string;
}

export interface DeadLetterRecord {
  key: string | Buffer | null;
  value: Buffer | null;
  headers: RecordHeaders;
}

// a header is no place for a novel: long messages (nested causes) are cut
const MAX_MESSAGE_CHARS = 2_000;

export function toDeadLetter(topic: string, partition: number, p: Poison, now = Date.now()): DeadLetterRecord {
  return {
    key: p.record.key,
    value: p.record.value,
    headers: {
      ...p.record.headers,
      [deadLetterHeaderNames.reason]: p.reason,
      [deadLetterHeaderNames.message]: p.message.slice(0, MAX_MESSAGE_CHARS),
      [deadLetterHeaderNames.topic]: topic,
      [deadLetterHeaderNames.partition]: String(partition),
      [deadLetterHeaderNames.offset]: p.record.offset,
      [deadLetterHeaderNames.ts]: String(now),
    },
  };
}
