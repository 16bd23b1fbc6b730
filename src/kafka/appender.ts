/**
 * The batching appender. kafkajs has no linger and its idempotent producer sends one request
 * at a time per broker, so N concurrent `send()` calls cost N round trips. This coalesces
 * concurrent appends into `sendBatch` calls: one batch is in flight while the next one
 * accumulates ("group commit"), so a lone save is sent at once and a crowd of saves shares a
 * round trip. One batch in flight also keeps per-partition order without relying on kafkajs.
 */
import { CompressionTypes, Partitioners, type Kafka, type Message, type Producer, type RecordMetadata } from 'kafkajs';
import { ThreadlogError } from '../errors.ts';
import type { Receipt } from '../events/types.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { mapKafkaError } from './client.ts';
import { createLeaderMap } from './leaders.ts';
import { noopAppenderMetrics, type AppenderMetrics } from './metrics.ts';
import { partitionFor } from './partition.ts';

/** One Kafka record; the same shape as the codec's `EncodedRecord`. */
export interface AppendRecord {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

export interface AppenderOptions {
  topic: string;
  /** must equal the topic's partition count (ensureTopics returns it) */
  partitions: number;
  /** a connected producer that we use and never disconnect; it must be idempotent */
  producer?: Producer;
  /** used to create (and later disconnect) our own producer when none is passed */
  kafka?: Kafka;
  /** extra wait before sending when idle; 0 sends on the next event-loop turn */
  lingerMs: number;
  /**
   * Bytes per sendBatch, all partitions together. Keep it <= the topic's max.message.bytes:
   * the broker checks each partition's record batch against that limit, and all of one
   * batch may go to a single partition.
   */
  maxBatchBytes: number;
  /** accepted-but-unacknowledged bytes above which append() waits */
  maxBufferedBytes: number;
  /** broker-side wait for the in-sync replicas (acks=-1) */
  ackTimeoutMs: number;
  /**
   * Every append settles within this long of its call: acknowledged, or rejected with a
   * retriable 'kafka-unavailable' (`details.indeterminate`: the records may be in the log
   * anyway). A broker that accepts requests and never answers would otherwise hold saves
   * for kafkajs' request timeout times its retries (minutes).
   */
  appendTimeoutMs: number;
  /** batch-level compression (ZSTD needs registerZstdCodec()) */
  compression: CompressionTypes;
  /**
   * How a batch is split into produce requests (leaders.ts says why a request must not span
   * brokers): one per partition leader (a leader map can be stale: a leadership that moved
   * since makes kafkajs span brokers again), or one per partition (exact, but kafkajs sends
   * one request per broker at a time: ~1.5-2.5x fewer saves/s at high concurrency on the
   * 3-broker cluster). 'auto': per partition on a cluster of more than one broker, else one
   * request per batch (a single broker: nothing to span).
   */
  requestsPer: 'leader' | 'partition' | 'auto';
  logger: Logger;
  metrics: AppenderMetrics;
}

export const defaultAppenderOptions = {
  partitions: 12,
  // Measured (bench/write.ts): with one batch in flight, batches form naturally under load,
  // so waiting when idle only adds latency to lone saves.
  lingerMs: 0,
  maxBatchBytes: 1024 * 1024,
  maxBufferedBytes: 64 * 1024 * 1024,
  ackTimeoutMs: 30_000,
  appendTimeoutMs: 30_000,
  compression: CompressionTypes.None,
  requestsPer: 'auto',
  logger: silentLogger,
  metrics: noopAppenderMetrics,
} satisfies Partial<AppenderOptions>;

export interface AppendOptions {
  /**
   * Earlier appends (promises this appender returned) this one builds on, e.g. the event
   * holding a delta's base: it is written only after them and only if they were written —
   * acknowledged before, or in the same produce request, where one partition's records form
   * one record batch that the broker stores whole or not at all. If one failed, this append
   * rejects without being sent.
   */
  after?: ReadonlyArray<Promise<unknown>>;
}

export interface Appender {
  /** appends the records of one event, in order; resolves with its last record's position */
  append(records: AppendRecord[], options?: AppendOptions): Promise<Receipt>;
  /** resolves when every append made before it has settled (it never rejects) */
  flush(): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  readonly bufferedBytes: number;
}

// Record framing in a v2 record batch (length, attributes, deltas, varints) is ~20 bytes,
// plus the header key/value lengths; an estimate is enough for batching and back-pressure.
const RECORD_OVERHEAD = 24;
// how long a failed producer's disconnect may hold the next batch
const DISCONNECT_WAIT_MS = 2_000;
const HEADER_OVERHEAD = 4;

export function recordBytes(r: AppendRecord): number {
  let n = RECORD_OVERHEAD + Buffer.byteLength(r.key) + r.value.length;
  for (const [k, v] of Object.entries(r.headers)) n += HEADER_OVERHEAD + Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

interface Pending {
  records: AppendRecord[];
  sizes: number[];
  partitions: number[];
  bytes: number;
  /** index of the next record to put into a batch */
  next: number;
  /** records not yet acknowledged */
  remaining: number;
  failed: boolean;
  /** appends this one is written only after, and only if they are (AppendOptions.after) */
  deps: Pending[];
  last: Receipt | undefined;
  started: bigint;
  /** Date.now() by which it must have settled */
  deadline: number;
  resolve(r: Receipt): void;
  reject(e: ThreadlogError): void;
  settled: Promise<void>;
}

interface BatchEntry {
  pending: Pending;
  index: number;
}

export function createAppender(options: Partial<AppenderOptions> & Pick<AppenderOptions, 'topic'>): Appender {
  const o = { ...defaultAppenderOptions, ...options };
  validate(o);
  const { topic, logger, metrics } = o;
  const log = logger.child({ component: 'appender', topic });

  const owned = o.producer === undefined;
  let producer: Producer | undefined = o.producer;
  let producerReady: Promise<Producer> | undefined = producer ? Promise.resolve(producer) : undefined;

  const queue: Pending[] = []; // admitted, with records still to send; order = append order
  const waiting: Pending[] = []; // held back by maxBufferedBytes, FIFO
  const unsettled = new Set<Pending>();
  // the promise append() returned → its entry, for AppendOptions.after
  const byPromise = new WeakMap<Promise<unknown>, Pending>();
  let buffered = 0;
  let inFlight = false;
  let scheduled = false;
  let lingerTimer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();
  let closed = false;
  let closing: Promise<void> | undefined;
  // one produce request per partition leader (leaders.ts says why); needs a Kafka client
  const leaderMap = o.kafka ? createLeaderMap(o.kafka, topic, log) : undefined;

  function ownProducer(): Promise<Producer> {
    producerReady ??= (async () => {
      const p = o.kafka!.producer({
        idempotent: true,
        // kafkajs requires 1 for idempotence; it is also what keeps our batches in order
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await p.connect();
      producer = p;
      return p;
    })();
    producerReady.catch(() => {
      producerReady = undefined; // the next batch tries to connect again
    });
    return producerReady;
  }

  /**
   * After a failed batch the broker may still have written it, but kafkajs rolls its sequence
   * numbers back; the next batch would reuse them and could be acknowledged as a "duplicate"
   * of the failed one without being written. A fresh producer id makes that impossible.
   */
  async function replaceProducer(): Promise<void> {
    if (!owned) {
      log.warn({}, 'a batch failed on a producer passed in; it keeps its producer id (see appender.ts)');
      return;
    }
    const old = producer;
    producer = undefined;
    producerReady = undefined;
    if (old === undefined) return;
    // a hung broker can hold the disconnect too: give up waiting, never the next batch
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      old.disconnect().catch((e: unknown) => log.warn({ err: e }, 'disconnecting the failed producer')),
      new Promise<void>((r) => (timer = setTimeout(r, DISCONNECT_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }

  function setBuffered(delta: number): void {
    buffered += delta;
    metrics.setBufferedBytes(buffered);
  }

  function admit(p: Pending): void {
    queue.push(p);
    setBuffered(p.bytes);
    schedule();
  }

  function admitWaiting(): void {
    // An event bigger than the whole buffer is admitted alone, or it would wait forever.
    while (waiting.length > 0 && (buffered === 0 || buffered + waiting[0]!.bytes <= o.maxBufferedBytes)) {
      admit(waiting.shift()!);
    }
  }

  function queuedBytes(): number {
    let n = 0;
    for (const p of queue) for (let i = p.next; i < p.records.length; i++) n += p.sizes[i]!;
    return n;
  }

  function schedule(): void {
    if (inFlight || scheduled || queue.length === 0) return;
    scheduled = true;
    if (o.lingerMs > 0 && !closed && queuedBytes() < o.maxBatchBytes) {
      lingerTimer = setTimeout(fire, o.lingerMs);
    } else {
      // The next turn of the event loop: appends made in the same tick share the batch.
      setImmediate(fire);
    }
  }

  function fire(): void {
    scheduled = false;
    if (lingerTimer !== undefined) clearTimeout(lingerTimer);
    lingerTimer = undefined;
    sendNext();
  }

  function takeBatch(): BatchEntry[] {
    const batch: BatchEntry[] = [];
    let bytes = 0;
    const now = Date.now();
    while (queue.length > 0) {
      const p = queue[0]!;
      if (p.next === 0) {
        // not sent yet: it can still be refused without any doubt about the log
        const lost = p.deps.find((d) => d.failed);
        if (lost !== undefined) {
          reject(p, new ThreadlogError('kafka-unavailable', `an earlier append this one builds on (a delta's base) was not acknowledged; nothing of this one was written — save again (the next save writes a snapshot)`, { retriable: true, details: { dependency: true } }));
          continue;
        }
        if (now >= p.deadline) {
          reject(p, new ThreadlogError('kafka-unavailable', `not sent within ${o.appendTimeoutMs} ms (appendTimeoutMs: Kafka was slow or unreachable); nothing of it was written`, { retriable: true }));
          continue;
        }
      }
      const size = p.sizes[p.next]!;
      if (batch.length > 0 && bytes + size > o.maxBatchBytes) break;
      batch.push({ pending: p, index: p.next });
      bytes += size;
      p.next += 1;
      if (p.next === p.records.length) queue.shift();
    }
    return batch;
  }

  function sendNext(): void {
    if (inFlight || queue.length === 0) return;
    inFlight = true;
    const batch = takeBatch();
    current = sendGroups(batch).finally(() => {
      inFlight = false;
      admitWaiting();
      // Whatever accumulated meanwhile has already waited a round trip: send it now.
      if (queue.length > 0 && !scheduled) {
        scheduled = true;
        setImmediate(fire);
      }
    });
  }

  /**
   * The batch as one produce request per partition leader, all at once (kafkajs would send
   * them in parallel too). A failed request, or one whose answer lacks a partition, leaves a
   * producer whose sequence numbers cannot be trusted: it is replaced once all have settled.
   */
  async function sendGroups(batch: BatchEntry[]): Promise<void> {
    if (batch.length === 0) return;
    await leaderMap?.ready();
    const groups = new Map<number, BatchEntry[]>();
    for (const e of batch) {
      const partition = e.pending.partitions[e.index]!;
      const perPartition = o.requestsPer === 'partition' || (o.requestsPer === 'auto' && (leaderMap?.brokers() ?? 1) > 1);
      const leader = perPartition ? partition : (leaderMap?.leaderOf(partition) ?? -1);
      const g = groups.get(leader);
      if (g) g.push(e);
      else groups.set(leader, [e]);
    }
    const outcomes = await Promise.all([...groups.values()].map(sendBatch));
    if (outcomes.some((replace) => replace)) {
      leaderMap?.invalidate();
      await replaceProducer();
    }
  }

  /** true when the producer must be replaced */
  async function sendBatch(batch: BatchEntry[]): Promise<boolean> {
    let bytes = 0;
    const messages: Message[] = batch.map(({ pending, index }) => {
      bytes += pending.sizes[index]!;
      const r = pending.records[index]!;
      return { key: r.key, value: r.value, headers: r.headers, partition: pending.partitions[index]! };
    });
    metrics.observeBatch(batch.length, bytes);
    // the batch may take until the earliest deadline among its appends
    let deadline = Infinity;
    for (const { pending } of batch) deadline = Math.min(deadline, pending.deadline);
    let timer: NodeJS.Timeout | undefined;
    try {
      const send = (async () => {
        const p = producer ?? (await ownProducer());
        return p.sendBatch({
          topicMessages: [{ topic, messages }],
          acks: -1,
          timeout: o.ackTimeoutMs,
          compression: o.compression,
        });
      })();
      const response = await Promise.race([
        send,
        new Promise<never>((_, rej) => {
          timer = setTimeout(
            () =>
              rej(
                new ThreadlogError('kafka-unavailable', `no acknowledgement from Kafka within ${o.appendTimeoutMs} ms (appendTimeoutMs); the records may or may not be in the log`, {
                  retriable: true,
                  details: { indeterminate: true },
                }),
              ),
            Math.max(0, deadline - Date.now()),
          );
        }),
      ]);
      // a send abandoned by the timer still settles some day: never as an unhandled rejection
      send.catch(() => undefined);
      return settleBatch(batch, baseOffsets(response));
    } catch (e) {
      const err = mapKafkaError(e, `appending ${batch.length} records to ${topic}`);
      log.warn({ err: e, code: err.code, records: batch.length }, 'append batch failed');
      failBatch(batch, err);
      return true;
    } finally {
      clearTimeout(timer);
      setBuffered(-bytes);
    }
  }

  function baseOffsets(response: RecordMetadata[]): Map<number, bigint> {
    const m = new Map<number, bigint>();
    for (const r of response) {
      if (r.topicName !== topic) continue;
      if (r.errorCode !== 0 || r.baseOffset === undefined) {
        throw new ThreadlogError('append-failed', `partition ${r.partition} answered error ${r.errorCode} without an offset`);
      }
      m.set(r.partition, BigInt(r.baseOffset));
    }
    return m;
  }

  /** true when the response lacked a partition of the batch (its appends are rejected) */
  function settleBatch(batch: BatchEntry[], bases: Map<number, bigint>): boolean {
    // kafkajs keeps the order of the messages within each partition, and the broker gives a
    // record batch contiguous offsets from baseOffset: the i-th record of a partition in
    // this batch is at baseOffset + i.
    const seen = new Map<number, bigint>();
    const offsets: Array<bigint | undefined> = batch.map(({ pending, index }) => {
      const partition = pending.partitions[index]!;
      const base = bases.get(partition);
      if (base === undefined) return undefined;
      const i = seen.get(partition) ?? 0n;
      seen.set(partition, i + 1n);
      return base + i;
    });
    let incomplete = false;
    batch.forEach(({ pending, index }, i) => {
      if (pending.failed) return;
      const offset = offsets[i];
      if (offset === undefined) {
        // kafkajs answered without this partition (it lost track of it across a leader
        // change): it may or may not have been written
        incomplete = true;
        reject(pending, new ThreadlogError('kafka-unavailable', `no offset in the produce response for partition ${pending.partitions[index]} (a leader changed while it was sent); the records may or may not be in the log`, { retriable: true, details: { indeterminate: true } }));
        return;
      }
      pending.remaining -= 1;
      if (index === pending.records.length - 1) {
        pending.last = { topic, partition: pending.partitions[index]!, offset: offset.toString() };
      }
      if (pending.remaining === 0) {
        unsettled.delete(pending);
        pending.deps = [];
        metrics.observeSave(Number(process.hrtime.bigint() - pending.started) / 1e9);
        pending.resolve(pending.last!);
      }
    });
    return incomplete;
  }

  function failBatch(batch: BatchEntry[], err: ThreadlogError): void {
    for (const { pending } of batch) if (!pending.failed) reject(pending, err);
  }

  function reject(p: Pending, err: ThreadlogError): void {
    p.failed = true;
    p.deps = [];
    unsettled.delete(p);
    metrics.countError(err.code);
    // The rest of a failed multi-record event must not be written: drop what is unsent.
    const at = queue.indexOf(p);
    if (at >= 0) {
      queue.splice(at, 1);
      let unsent = 0;
      for (let i = p.next; i < p.records.length; i++) unsent += p.sizes[i]!;
      setBuffered(-unsent);
    }
    if (p.next > 0 && p.next < p.records.length) {
      err = new ThreadlogError(err.code, `${err.message} (the first ${p.next} of ${p.records.length} records may be in the log)`, {
        retriable: err.retriable,
        cause: err.cause,
        details: { ...err.details, partial: true },
      });
    }
    p.reject(err);
  }

  function append(records: AppendRecord[], options: AppendOptions = {}): Promise<Receipt> {
    if (closed) {
      metrics.countError('buffer-closed');
      return Promise.reject(new ThreadlogError('buffer-closed', `appender for ${topic} is closed`));
    }
    if (records.length === 0) {
      return Promise.reject(new ThreadlogError('invalid-options', 'append needs at least one record'));
    }
    const deps: Pending[] = [];
    for (const a of options.after ?? []) {
      const d = byPromise.get(a);
      if (d === undefined) return Promise.reject(new ThreadlogError('invalid-options', 'append: `after` names a promise this appender did not return'));
      if (d.failed) {
        metrics.countError('kafka-unavailable');
        return Promise.reject(new ThreadlogError('kafka-unavailable', `an earlier append this one builds on (a delta's base) was not acknowledged; nothing of this one was written — save again (the next save writes a snapshot)`, { retriable: true, details: { dependency: true } }));
      }
      if (d.remaining > 0) deps.push(d);
    }
    const sizes = records.map(recordBytes);
    const partitions = records.map((r) => partitionFor(r.key, o.partitions));
    let resolve!: (r: Receipt) => void;
    let rejectFn!: (e: ThreadlogError) => void;
    const promise = new Promise<Receipt>((res, rej) => {
      resolve = res;
      rejectFn = rej;
    });
    const p: Pending = {
      records,
      sizes,
      partitions,
      bytes: sizes.reduce((a, b) => a + b, 0),
      next: 0,
      remaining: records.length,
      failed: false,
      deps,
      last: undefined,
      started: process.hrtime.bigint(),
      deadline: Date.now() + o.appendTimeoutMs,
      resolve,
      reject: rejectFn,
      settled: promise.then(
        () => undefined,
        () => undefined,
      ),
    };
    unsettled.add(p);
    byPromise.set(promise, p);
    // Never overtake an append that is already waiting: callers rely on call order.
    if (waiting.length === 0 && (buffered === 0 || buffered + p.bytes <= o.maxBufferedBytes)) admit(p);
    else waiting.push(p);
    return promise;
  }

  async function flush(): Promise<void> {
    const pending = [...unsettled].map((p) => p.settled);
    // Skip the linger: someone is waiting for these now.
    if (lingerTimer !== undefined) {
      clearTimeout(lingerTimer);
      lingerTimer = undefined;
      setImmediate(fire);
    }
    await Promise.all(pending);
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      closed = true;
      await flush();
      await current; // a failed batch may still be replacing its producer
      await leaderMap?.close();
      if (owned && producerReady) {
        const p = await producerReady.catch(() => undefined);
        await p?.disconnect();
      }
      producer = undefined;
    })();
    return closing;
  }

  return {
    append,
    flush,
    close,
    [Symbol.asyncDispose]: close,
    get bufferedBytes() {
      return buffered;
    },
  };
}

function validate(o: AppenderOptions): void {
  const bad = (why: string): never => {
    throw new ThreadlogError('invalid-options', `createAppender: ${why}`);
  };
  if (!o.producer && !o.kafka) bad('pass a connected producer or a Kafka client');
  if (!Number.isInteger(o.partitions) || o.partitions < 1) bad('partitions must be a positive integer');
  if (!(o.lingerMs >= 0)) bad('lingerMs must be >= 0');
  if (!(o.maxBatchBytes > 0)) bad('maxBatchBytes must be > 0');
  if (!(o.maxBufferedBytes > 0)) bad('maxBufferedBytes must be > 0');
  if (!(o.appendTimeoutMs > 0)) bad('appendTimeoutMs must be > 0');
}
