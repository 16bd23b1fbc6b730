/**
 * The write path: validate, build the event (only the channels in `newVersions`, lists as
 * append deltas when they only grew), encode, append. It touches Kafka only: a save never
 * waits for, or fails because of, MongoDB or Redis.
 */
import { randomUUID } from 'node:crypto';
import { WRITES_IDX_MAP, type Checkpoint } from '@langchain/langgraph-checkpoint';
import { ThreadlogError } from '../errors.ts';
import type { EventCodec } from '../events/codec.ts';
import type { DeltaEncoder } from '../events/deltas.ts';
import type { ChannelValue, CheckpointEvent, CheckpointHeader, Receipt, ThreadlogEvent, WritesEvent } from '../events/types.ts';
import { validateCheckpointNs, validateThreadId } from '../events/validate.ts';
import type { Appender } from '../kafka/appender.ts';
import type { OwnWrites } from './own-writes.ts';
import type { SessionTracker } from './session.ts';
import type { PutWritesInput, SaveInput } from './types.ts';

export interface Writer {
  save(input: SaveInput): Promise<Receipt>;
  saveBatch(inputs: SaveInput[]): Promise<Receipt[]>;
  putWrites(input: PutWritesInput): Promise<Receipt>;
  deleteThread(threadId: string): Promise<Receipt>;
  readonly saves: number;
}

export interface WriterDeps {
  codec: EventCodec;
  deltas: DeltaEncoder;
  appender: Appender;
  session: SessionTracker;
  /** write-through record of what this instance wrote (absent: disabled) */
  own: OwnWrites | undefined;
  /** called once the log acknowledged a thread-deleted event */
  onDeleted(threadId: string, receipt: Receipt): void;
}

function invalidCheckpoint(message: string): never {
  throw new ThreadlogError('invalid-checkpoint', message);
}

export function createWriter(d: WriterDeps): Writer {
  let saves = 0;

  /** the event, and the channels it lists as new without a value (no blob is written for them) */
  async function checkpointEvent(input: SaveInput): Promise<{ event: CheckpointEvent; empties: string[] }> {
    if (input === null || typeof input !== 'object') invalidCheckpoint('save input must be an object');
    const ns = input.checkpointNs ?? '';
    validateThreadId(input.threadId, d.codec.options);
    validateCheckpointNs(ns, d.codec.options);
    const cp: Checkpoint | undefined = input.checkpoint;
    if (cp === null || typeof cp !== 'object') invalidCheckpoint('checkpoint must be an object');
    const { channel_values: values = {}, ...header } = cp as Checkpoint & { channel_values?: Record<string, unknown> };
    const versions = cp.channel_versions ?? {};
    const channels = input.newVersions === undefined ? Object.keys(values) : Object.keys(input.newVersions);
    const encoded: ChannelValue[] = [];
    const empties: string[] = [];
    for (const channel of channels) {
      // a channel with a version but no value is LangGraph's empty channel: nothing to store
      if (!Object.prototype.hasOwnProperty.call(values, channel)) {
        empties.push(channel);
        continue;
      }
      const version = versions[channel];
      if (version === undefined) invalidCheckpoint(`channel "${channel}" has a value but no version in channel_versions`);
      encoded.push(await d.deltas.encode(input.threadId, ns, channel, version, values[channel]));
    }
    const event: CheckpointEvent = {
      type: 'checkpoint',
      eventId: randomUUID(),
      threadId: input.threadId,
      ts: Date.now(),
      checkpointNs: ns,
      checkpointId: cp.id,
      parentCheckpointId: input.parentCheckpointId,
      checkpoint: header as unknown as CheckpointHeader,
      metadata: (input.metadata ?? {}) as Record<string, unknown>,
      values: encoded,
    };
    return { event, empties };
  }

  function track(event: ThreadlogEvent, receipt: Promise<Receipt>, empties?: string[]): Promise<Receipt> {
    return receipt.then((r) => {
      // before the session tracker learns of it: the record checks what was written earlier
      d.own?.record(event, r, empties);
      const ns = event.type === 'thread-deleted' ? undefined : event.checkpointNs;
      d.session.recordEvent(event.threadId, r, event.type, ns);
      if (event.type === 'checkpoint') saves++;
      if (event.type === 'thread-deleted') d.onDeleted(event.threadId, r);
      return r;
    });
  }

  async function append(event: ThreadlogEvent, empties?: string[]): Promise<Receipt> {
    return track(event, d.appender.append(await d.codec.encode(event)), empties);
  }

  return {
    async save(input) {
      const { event, empties } = await checkpointEvent(input);
      return append(event, empties);
    },

    async saveBatch(inputs) {
      // encoded in order (deltas of one channel build on each other), then appended in one
      // synchronous sweep so the appender keeps their order within each thread
      const records: Array<Awaited<ReturnType<EventCodec['encode']>>> = [];
      const events: Array<{ event: CheckpointEvent; empties: string[] }> = [];
      for (const input of inputs) {
        const e = await checkpointEvent(input);
        events.push(e);
        records.push(await d.codec.encode(e.event));
      }
      return Promise.all(records.map((r, i) => track(events[i]!.event, d.appender.append(r), events[i]!.empties)));
    },

    async putWrites(input) {
      const ns = input.checkpointNs ?? '';
      validateThreadId(input.threadId, d.codec.options);
      const writes = await Promise.all(
        // LangGraph's special channels (errors, interrupts) keep their fixed negative idx
        (input.writes ?? []).map(async ([channel, value], idx) => ({ idx: WRITES_IDX_MAP[channel] ?? idx, channel, value: await d.codec.serialize(value) })),
      );
      const event: WritesEvent = {
        type: 'writes',
        eventId: randomUUID(),
        threadId: input.threadId,
        ts: Date.now(),
        checkpointNs: ns,
        checkpointId: input.checkpointId,
        taskId: input.taskId,
        taskPath: input.taskPath ?? '',
        writes,
      };
      return append(event);
    },

    async deleteThread(threadId) {
      validateThreadId(threadId, d.codec.options);
      // what this process remembers of the thread's lists must not be a base for new deltas
      d.deltas.forget(threadId);
      return append({ type: 'thread-deleted', eventId: randomUUID(), threadId, ts: Date.now() });
    },

    get saves() {
      return saves;
    },
  };
}
