/**
 * The write path: validate, build the event (only the channels in `newVersions`, lists as
 * append deltas when they only grew), encode, append. It touches Kafka only: a save never
 * waits for, or fails because of, MongoDB or Redis.
 *
 * A delta's base must reach the log before the delta (or with it), and never be an event
 * that did not: events of one thread are prepared and handed to the appender one at a time,
 * in call order, each naming the in-flight appends its deltas build on (`after`), and what
 * an event wrote becomes a base only once it is acknowledged (events/deltas.ts).
 */
import { randomUUID } from 'node:crypto';
import { WRITES_IDX_MAP, type Checkpoint } from '@langchain/langgraph-checkpoint';
import { ThreadlogError } from '../errors.ts';
import type { EventCodec } from '../events/codec.ts';
import type { DeltaEncoder } from '../events/deltas.ts';
import { isThreadEnd, type ChannelValue, type CheckpointEvent, type CheckpointHeader, type Receipt, type ThreadlogEvent, type TypedValue, type WritesEvent } from '../events/types.ts';
import { validateCheckpointNs, validateThreadId } from '../events/validate.ts';
import type { Appender } from '../kafka/appender.ts';
import type { DeltaTicket } from '../events/deltas.ts';
import type { OwnWrites } from './own-writes.ts';
import type { SessionTracker } from './session.ts';
import type { PutWritesInput, SaveInput } from './types.ts';

export interface Writer {
  save(input: SaveInput): Promise<Receipt>;
  saveBatch(inputs: SaveInput[]): Promise<Receipt[]>;
  putWrites(input: PutWritesInput): Promise<Receipt>;
  deleteThread(threadId: string): Promise<Receipt>;
  /** appends a thread-erased event (the key is destroyed first: store/erase.ts) */
  eraseThread(threadId: string): Promise<Receipt>;
  readonly saves: number;
}

export interface WriterDeps {
  codec: EventCodec;
  deltas: DeltaEncoder;
  appender: Appender;
  session: SessionTracker;
  /** write-through record of what this instance wrote (absent: disabled) */
  own: OwnWrites | undefined;
  /** called once the log acknowledged a thread-deleted or thread-erased event */
  onDeleted(threadId: string, receipt: Receipt): void;
  /**
   * The encryption step (absent: encryption off): the event as the log gets it, its content
   * sealed with the thread's key (crypto/seal.ts). What this instance remembers of its own
   * writes (L1, session reads) keeps the event as it was.
   */
  seal?(event: ThreadlogEvent): Promise<ThreadlogEvent>;
}

function invalidCheckpoint(message: string): never {
  throw new ThreadlogError('invalid-checkpoint', message);
}

/**
 * One thread's events go to the appender in the order they were asked for, each after the
 * previous one's preparation (serialize, delta, encode) is done; preparation of different
 * threads runs side by side. The receipt is awaited outside: saves still overlap in flight.
 */
function createThreadSequencer() {
  const tails = new Map<string, Promise<void>>();
  return async function inOrder<T>(threads: readonly string[], prepare: () => Promise<T>): Promise<T> {
    const before = threads.map((t) => tails.get(t)).filter((p): p is Promise<void> => p !== undefined);
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    for (const t of threads) tails.set(t, mine);
    try {
      if (before.length > 0) await Promise.all(before);
      return await prepare();
    } finally {
      release();
      for (const t of threads) if (tails.get(t) === mine) tails.delete(t);
    }
  };
}

export function createWriter(d: WriterDeps): Writer {
  let saves = 0;
  const inOrder = createThreadSequencer();
  const seal = d.seal;
  const encode = async (event: ThreadlogEvent) => d.codec.encode(seal === undefined ? event : await seal(event));

  /** the event, and the channels it lists as new without a value (no blob is written for them) */
  async function checkpointEvent(input: SaveInput, ticket: DeltaTicket): Promise<{ event: CheckpointEvent; empties: string[] }> {
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
      encoded.push(await ticket.encode(input.threadId, ns, channel, version, values[channel]));
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

  function track(event: ThreadlogEvent, receipt: Promise<Receipt>, empties?: string[], wholes?: ReadonlyMap<string, TypedValue>): Promise<Receipt> {
    return receipt.then((r) => {
      // before the session tracker learns of it: the record checks what was written earlier
      d.own?.record(event, r, empties, wholes);
      const ns = isThreadEnd(event) ? undefined : event.checkpointNs;
      d.session.recordEvent(event.threadId, r, event.type, ns);
      if (event.type === 'checkpoint') saves++;
      if (isThreadEnd(event)) d.onDeleted(event.threadId, r);
      return r;
    });
  }

  /**
   * Builds, encodes and hands one checkpoint to the appender; resolves when it is queued.
   * The receipt is boxed: a bare promise would be awaited along, holding the thread's turn
   * until Kafka answers.
   */
  async function prepare(input: SaveInput): Promise<{ receipt: Promise<Receipt> }> {
    const ticket = d.deltas.begin(input?.checkpoint?.id);
    try {
      const { event, empties } = await checkpointEvent(input, ticket);
      const records = await encode(event);
      const appended = d.appender.append(records, { after: ticket.dependsOn() });
      ticket.settle(appended);
      const receipt = track(event, appended, empties, ticket.wholes());
      // awaited by the caller; handled now in case that happens only after a rejection
      receipt.catch(() => undefined);
      return { receipt };
    } catch (e) {
      ticket.abandon();
      throw e;
    }
  }

  const boxed = (receipt: Promise<Receipt>): { receipt: Promise<Receipt> } => {
    receipt.catch(() => undefined);
    return { receipt };
  };

  const threadOf = (input: SaveInput): string => (input !== null && typeof input === 'object' && typeof input.threadId === 'string' ? input.threadId : '');

  return {
    async save(input) {
      return (await inOrder([threadOf(input)], () => prepare(input))).receipt;
    },

    async saveBatch(inputs) {
      // in order (deltas of one channel build on each other), each queued before the next is
      // prepared, so the appender keeps their order within each thread
      const receipts = await inOrder([...new Set(inputs.map(threadOf))], async () => {
        const out: Array<Promise<Receipt>> = [];
        // the ones queued before a failure still settle (their rejections are handled)
        for (const input of inputs) out.push((await prepare(input)).receipt);
        return out;
      });
      return Promise.all(receipts);
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
      return (await inOrder([input.threadId], async () => boxed(track(event, d.appender.append(await encode(event)))))).receipt;
    },

    async deleteThread(threadId) {
      validateThreadId(threadId, d.codec.options);
      const event: ThreadlogEvent = { type: 'thread-deleted', eventId: randomUUID(), threadId, ts: Date.now() };
      const queued = await inOrder([threadId], async () => {
        // what this process remembers of the thread's lists must not be a base for new deltas
        d.deltas.forget(threadId);
        return boxed(track(event, d.appender.append(await d.codec.encode(event))));
      });
      return queued.receipt;
    },

    async eraseThread(threadId) {
      validateThreadId(threadId, d.codec.options);
      const event: ThreadlogEvent = { type: 'thread-erased', eventId: randomUUID(), threadId, ts: Date.now() };
      const queued = await inOrder([threadId], async () => {
        d.deltas.forget(threadId);
        return boxed(track(event, d.appender.append(await d.codec.encode(event))));
      });
      return queued.receipt;
    },

    get saves() {
      return saves;
    },
  };
}
