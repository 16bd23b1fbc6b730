/**
 * A thread's events as rows, in log order, for `threadlog timeline` (pure: the log reading is
 * src/kafka/thread-reader.ts). `--from`/`--to` take a checkpoint id or an ISO time.
 */
import { ThreadlogError } from '../errors.ts';
import { isSealedEvent } from '../crypto/seal.ts';
import { isThreadEnd, type LoggedEvent } from '../events/types.ts';

export interface TimelineRow {
  time: string;
  type: string;
  checkpointNs: string | undefined;
  checkpointId: string | undefined;
  parentCheckpointId: string | undefined;
  step: number | undefined;
  source: string | undefined;
  /** channels whose new versions the checkpoint event carries */
  channels: string[];
  /** task/channel of each pending write of a writes event */
  writes: string[];
  /** stored bytes (after reassembly, before decompression) */
  bytes: number;
  partition: number;
  offset: string;
  eventId: string;
  /** its content (values, metadata) is encrypted: step and source are not shown */
  sealed: boolean;
}

/** A thread's erasure as the timeline shows it: when, and where its event is. */
export interface TimelineErasure {
  time: string;
  partition: number;
  offset: string;
}

/** the thread's first erasure: from it on, and for every event before it, only ids, times and sizes remain */
export function erasureRow(events: readonly LoggedEvent[]): TimelineErasure | undefined {
  const e = events.find((x) => x.event.type === 'thread-erased');
  return e === undefined ? undefined : { time: new Date(e.event.ts).toISOString(), partition: e.position.partition, offset: e.position.offset };
}

/** A point in the log: a checkpoint id, or a time. */
export type LogPoint = { kind: 'checkpoint'; checkpointId: string } | { kind: 'time'; ms: number };

const ISO = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+)?(Z|[+-]\d{2}:?\d{2})?$/;

export function parseLogPoint(s: string): LogPoint {
  if (ISO.test(s)) {
    const ms = Date.parse(s);
    if (Number.isNaN(ms)) throw new ThreadlogError('invalid-options', `'${s}' looks like a time but does not parse; use ISO 8601, e.g. 2026-01-31T12:00:00Z`);
    return { kind: 'time', ms };
  }
  return { kind: 'checkpoint', checkpointId: s };
}

const checkpointOf = (e: LoggedEvent['event']): string | undefined => (isThreadEnd(e) ? undefined : e.checkpointId);
const nsOf = (e: LoggedEvent['event']): string | undefined => (isThreadEnd(e) ? undefined : e.checkpointNs);

/**
 * The events between `from` and `to` (both inclusive). A checkpoint id as `from` starts at its
 * (first) checkpoint event; as `to` it ends after the last event of that checkpoint (its
 * pending writes included). Unknown checkpoint ids are errors, not empty answers.
 */
export function selectEvents(events: readonly LoggedEvent[], opts: { ns?: string; from?: LogPoint; to?: LogPoint }): LoggedEvent[] {
  let start = 0;
  let end = events.length - 1;
  if (opts.from) {
    const f = opts.from;
    start = f.kind === 'time' ? events.findIndex((e) => e.event.ts >= f.ms) : events.findIndex((e) => e.event.type === 'checkpoint' && e.event.checkpointId === f.checkpointId);
    if (start < 0 && f.kind === 'checkpoint') throw new ThreadlogError('not-found', `checkpoint ${f.checkpointId} is not in the thread's log`);
    if (start < 0) return [];
  }
  if (opts.to) {
    const t = opts.to;
    if (t.kind === 'time') {
      end = events.findLastIndex((e) => e.event.ts <= t.ms);
    } else {
      end = events.findLastIndex((e) => checkpointOf(e.event) === t.checkpointId);
      if (end < 0) throw new ThreadlogError('not-found', `checkpoint ${t.checkpointId} is not in the thread's log`);
    }
  }
  return events.slice(start, end + 1).filter((e) => opts.ns === undefined || isThreadEnd(e.event) || nsOf(e.event) === opts.ns);
}

export function timelineRow({ event: e, position, raw }: LoggedEvent): TimelineRow {
  const row: TimelineRow = {
    time: new Date(e.ts).toISOString(),
    type: e.type,
    checkpointNs: nsOf(e),
    checkpointId: checkpointOf(e),
    parentCheckpointId: undefined,
    step: undefined,
    source: undefined,
    channels: [],
    writes: [],
    bytes: raw.byteLength,
    partition: position.partition,
    offset: position.offset,
    eventId: e.eventId,
    sealed: isSealedEvent(e),
  };
  if (e.type === 'checkpoint') {
    row.parentCheckpointId = e.parentCheckpointId;
    row.step = typeof e.metadata.step === 'number' ? e.metadata.step : undefined;
    row.source = typeof e.metadata.source === 'string' ? e.metadata.source : undefined;
    row.channels = e.values.map((v) => (v.kind === 'append' ? `${v.channel}(+${v.items.length})` : v.channel));
  } else if (e.type === 'writes') {
    row.writes = e.writes.map((w) => `${e.taskId.slice(0, 8)}/${w.channel}`);
  }
  return row;
}
