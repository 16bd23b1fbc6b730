/**
 * Reads ONE thread's events straight from the log, for the audit tools (timeline, audit,
 * replay): only the thread's partition, from its earliest offset to the end offset captured
 * at the start (so a busy topic cannot keep the scan going forever), records of other keys
 * skipped. The projection is never consulted: this is what the log itself says.
 *
 * kafkajs has no manual assignment, so a throw-away consumer group with a unique id and an
 * assigner that hands its only member the one partition stands in for it; nothing is
 * committed and the group is deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import kafkajs, { type Kafka, type PartitionAssigner } from 'kafkajs';
import { ThreadlogError } from '../errors.ts';
import { createChunkAssembler } from '../events/chunks.ts';
import type { EventCodec } from '../events/codec.ts';
import type { LoggedEvent } from '../events/types.ts';
import { keyString } from '../events/wire.ts';
import { mapKafkaError } from './client.ts';
import { partitionFor } from './partition.ts';

const { AssignerProtocol } = kafkajs;

export interface ThreadScanProgress {
  partition: number;
  /** offsets read so far / to read in total (the partition, not the thread) */
  read: number;
  total: number;
  events: number;
}

export interface ReadThreadOptions {
  kafka: Kafka;
  topic: string;
  threadId: string;
  codec: EventCodec;
  /** the topic's partition count; read from the topic's metadata when omitted */
  partitions?: number;
  onProgress?: (p: ThreadScanProgress) => void;
  /** group id prefix of the throw-away consumer group */
  groupPrefix?: string;
}

/** A record of the thread that does not decode (the projector dead-letters those). */
export interface UnreadableRecord {
  offset: string;
  reason: string;
  message: string;
}

export interface ThreadLog {
  topic: string;
  partition: number;
  /** the partition's end offset when the scan started (next offset to be written) */
  endOffset: string;
  /** the thread's events in log order */
  events: LoggedEvent[];
  unreadable: UnreadableRecord[];
}

function onePartitionAssigner(topic: string, partition: number): PartitionAssigner {
  return () => ({
    name: 'ThreadlogSinglePartition',
    version: 0,
    async assign({ members }) {
      const [first, ...rest] = members.map((m) => m.memberId).sort();
      return [
        ...(first === undefined ? [] : [{ memberId: first, memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: { [topic]: [partition] }, userData: Buffer.alloc(0) }) }]),
        ...rest.map((memberId) => ({ memberId, memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: {}, userData: Buffer.alloc(0) }) })),
      ];
    },
    protocol({ topics }) {
      return { name: 'ThreadlogSinglePartition', metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
    },
  });
}

export async function readThreadLog(o: ReadThreadOptions): Promise<ThreadLog> {
  const [log] = await readThreadLogs({ ...o, threadIds: [o.threadId] });
  return log!;
}

/**
 * Several threads at once: each partition involved is read once, and only records whose key
 * is one of the threads are decoded. Results in the order of `threadIds`.
 */
export async function readThreadLogs(o: Omit<ReadThreadOptions, 'threadId'> & { threadIds: readonly string[] }): Promise<ThreadLog[]> {
  const admin = o.kafka.admin();
  const ranges = new Map<number, { low: bigint; high: bigint; threads: Set<string> }>();
  const partitionOf = new Map<string, number>();
  try {
    await admin.connect();
    let count = o.partitions;
    if (count === undefined) {
      const meta = await admin.fetchTopicMetadata({ topics: [o.topic] }).catch((e: unknown) => {
        if ((e as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') {
          throw new ThreadlogError('not-found', `topic ${o.topic} does not exist; check THREADLOG_TOPIC_PREFIX`);
        }
        throw e;
      });
      count = meta.topics[0]?.partitions.length ?? 0;
    }
    if (count < 1) throw new ThreadlogError('not-found', `topic ${o.topic} has no partitions; check THREADLOG_TOPIC_PREFIX`);
    const offsets = await admin.fetchTopicOffsets(o.topic);
    for (const t of o.threadIds) {
      const partition = partitionFor(t, count);
      partitionOf.set(t, partition);
      let r = ranges.get(partition);
      if (!r) {
        const p = offsets.find((x) => x.partition === partition);
        r = { low: BigInt(p?.low ?? '0'), high: BigInt(p?.high ?? '0'), threads: new Set() };
        ranges.set(partition, r);
      }
      r.threads.add(t);
    }
  } catch (e) {
    await admin.disconnect().catch(() => undefined);
    throw mapKafkaError(e, `reading the offsets of ${o.topic}`, 'kafka-unavailable');
  }
  const logs = new Map<string, ThreadLog>();
  try {
    for (const [partition, r] of ranges) {
      for (const t of r.threads) logs.set(t, { topic: o.topic, partition, endOffset: String(r.high), events: [], unreadable: [] });
      if (r.high > r.low) await scanPartition(o, admin, partition, r.low, r.high, logs);
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  return o.threadIds.map((t) => logs.get(t)!);
}

async function scanPartition(
  o: Omit<ReadThreadOptions, 'threadId'>,
  admin: ReturnType<Kafka['admin']>,
  partition: number,
  low: bigint,
  high: bigint,
  logs: Map<string, ThreadLog>,
): Promise<void> {
  const groupId = `${o.groupPrefix ?? 'threadlog-cli'}.${randomUUID()}`;
  const consumer = o.kafka.consumer({ groupId, partitionAssigners: [onePartitionAssigner(o.topic, partition)], maxWaitTimeInMs: 200, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  const assembler = createChunkAssembler();
  const total = Number(high - low);
  let failed: unknown;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const pending: Array<Promise<void>> = [];
  let events = 0;
  let seen = low - 1n;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: o.topic, fromBeginning: true });
    consumer.on(consumer.events.CRASH, (e) => {
      failed = e.payload.error;
      finish();
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat, resolveOffset }) => {
        if (batch.partition !== partition) return;
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          // kafkajs may hand a batch again (nothing is committed): each offset counts once
          if (offset <= seen) continue;
          seen = offset;
          resolveOffset(m.offset);
          if (offset >= high) break;
          const log = logs.get(keyString(m.key) ?? '');
          if (log === undefined) continue;
          const r = assembler.add({ key: m.key, value: m.value, headers: m.headers ?? {}, offset: m.offset });
          for (const inc of r.incomplete) log.unreadable.push({ offset: inc.offsets.at(-1) ?? m.offset, reason: `incomplete-chunks:${inc.reason}`, message: inc.error.message });
          if (r.kind !== 'complete') continue;
          const record = r.record;
          // zstd runs off-thread: decode concurrently, keep each event's slot in log order
          const slot = log.events.length;
          log.events.push(undefined as unknown as LoggedEvent);
          events += 1;
          pending.push(
            o.codec.decodeWithRaw(record).then(
              ({ event, raw }) => void (log.events[slot] = { event, raw, position: { partition, offset: record.offset } }),
              (e: unknown) => void log.unreadable.push({ offset: record.offset, reason: (e as ThreadlogError).code ?? 'error', message: (e as Error).message }),
            ),
          );
        }
        const last = BigInt(batch.lastOffset());
        o.onProgress?.({ partition, read: Math.min(total, Number(last - low + 1n)), total, events });
        await heartbeat();
        if (last >= high - 1n) finish();
      },
    });
    await done;
    await Promise.all(pending);
  } catch (e) {
    failed ??= e;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  if (failed !== undefined) throw mapKafkaError(failed, `reading partition ${partition} of ${o.topic}`, 'kafka-unavailable');
  for (const log of logs.values()) {
    if (log.partition !== partition) continue;
    log.events = log.events.filter((e) => e !== undefined);
    log.unreadable.sort((a, b) => (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
  }
}
