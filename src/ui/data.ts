/**
 * What the viewer reads, all of it read-only: threads (mongo/thread-index.ts, or the store's
 * cross-thread list with its safe metadata filter), a thread's checkpoints page by page, one
 * checkpoint assembled by the store, its diff against its parent, the thread's audit (the
 * log re-read from Kafka against the projection, ops/audit.ts) and the projection's lag.
 */
import type { Db } from 'mongodb';
import { ThreadlogError } from '../errors.ts';
import { createEventCodec } from '../events/codec.ts';
import { validateCheckpointId, validateCheckpointNs, validateThreadId } from '../events/validate.ts';
import type { Kafka } from '../kafka/client.ts';
import { mapKafkaError } from '../kafka/client.ts';
import { partitionFor } from '../kafka/partition.ts';
import { readThreadLog } from '../kafka/thread-reader.ts';
import { createProjectionStore } from '../mongo/projection-store.ts';
import type { CheckpointRecord, WriteRecord } from '../mongo/records.ts';
import { listThreads } from '../mongo/thread-index.ts';
import { createAuditor } from '../ops/auditor.ts';
import { validateMetadataFilter } from '../store/filter.ts';
import type { CheckpointStore, MetadataFilter } from '../store/types.ts';
import { eventStatuses, type ThreadAudit } from './audit-status.ts';
import { diffStates, type StateDiff } from './diff.ts';
import { toPlain } from './plain.ts';
import { checkpointRow, threadRow, type CheckpointRow, type ThreadRow } from './rows.ts';

export interface ViewerDataOptions {
  /** the projection's database and the generation to read (the serving one) */
  db: Db;
  generation: string;
  /** a store on the same projection: assembles checkpoints (channel values, pending writes) */
  store: CheckpointStore;
  kafka: Kafka;
  topic: string;
  partitions: number;
}

export interface PartitionLag {
  partition: number;
  /** next offset the log will write */
  endOffset: number;
  /** highest offset the projection applied (-1: none) */
  applied: number;
  /** events in the log the projection has not applied */
  lag: number;
}

export interface CheckpointDetail {
  row: CheckpointRow;
  state: unknown;
  channelVersions: unknown;
  versionsSeen: unknown;
  pendingWrites: Array<{ taskId: string; taskPath: string; channel: string; value: unknown }>;
  tasks: Array<{ taskId: string; taskPath: string; channels: string[] }>;
}

export interface ViewerData {
  readonly partitions: number;
  threads(q: { prefix?: string; filter?: unknown; cursor?: string; limit: number }): Promise<{ threads: ThreadRow[]; next?: string }>;
  /** newest first; `before` a checkpoint id (exclusive) */
  thread(threadId: string, q: { before?: string; limit: number }): Promise<{ checkpoints: CheckpointRow[]; next?: string }>;
  checkpoint(threadId: string, ns: string, checkpointId: string): Promise<CheckpointDetail>;
  diff(threadId: string, ns: string, checkpointId: string): Promise<StateDiff & { parentCheckpointId: string | null }>;
  audit(threadId: string): Promise<ThreadAudit & { partition: number; endOffset: string; appliedThrough: number | null; unreadable: number }>;
  lag(partition?: number): Promise<PartitionLag[]>;
  close(): Promise<void>;
}

export function createViewerData(o: ViewerDataOptions): ViewerData {
  const projection = createProjectionStore({ db: o.db, generation: o.generation });
  const codec = createEventCodec();
  let admin: ReturnType<Kafka['admin']> | undefined;
  const audits = new Map<string, Promise<Awaited<ReturnType<ViewerData['audit']>>>>();

  async function withWrites(recs: CheckpointRecord[]): Promise<CheckpointRow[]> {
    const byNs = new Map<string, string[]>();
    for (const r of recs) byNs.set(r.checkpointNs, [...(byNs.get(r.checkpointNs) ?? []), r.checkpointId]);
    const writes = new Map<string, WriteRecord[]>();
    const threadId = recs[0]?.threadId;
    if (threadId !== undefined) {
      await Promise.all(
        [...byNs].map(async ([ns, cpIds]) => {
          for (const [id, ws] of await projection.getWritesOf(threadId, ns, cpIds)) writes.set(JSON.stringify([ns, id]), ws);
        }),
      );
    }
    return recs.map((r) => checkpointRow(r, writes.get(JSON.stringify([r.checkpointNs, r.checkpointId])) ?? []));
  }

  async function load(threadId: string, ns: string, checkpointId: string) {
    const cp = await o.store.load({ threadId, checkpointNs: ns, checkpointId }, { consistency: 'eventual' });
    if (cp === undefined) throw new ThreadlogError('not-found', `checkpoint ${checkpointId} of thread ${threadId}${ns ? ` (namespace ${ns})` : ''} is not in the projection`);
    return cp;
  }

  async function byFilter(filter: MetadataFilter, prefix: string | undefined, cursor: string | undefined, limit: number) {
    const found = new Map<string, ThreadRow>();
    let before = cursor;
    // a few pages of matching checkpoints at most per request: the client asks for more
    for (let round = 0; round < 5 && found.size < limit; round++) {
      const recs = await projection.listAcrossThreads({ filter, limit: limit * 4, ...(before === undefined ? {} : { before }) });
      for (const r of recs) {
        before = r.checkpointId;
        if (prefix !== undefined && !r.threadId.startsWith(prefix)) continue;
        if (!found.has(r.threadId)) found.set(r.threadId, threadRow(r.threadId, r));
        if (found.size >= limit) break;
      }
      if (recs.length < limit * 4) return { threads: [...found.values()] };
    }
    return { threads: [...found.values()], ...(before === undefined ? {} : { next: before }) };
  }

  async function connectedAdmin() {
    if (admin) return admin;
    const a = o.kafka.admin();
    try {
      await a.connect();
    } catch (e) {
      throw mapKafkaError(e, 'connecting to Kafka', 'kafka-unavailable');
    }
    return (admin = a);
  }

  return {
    partitions: o.partitions,

    async threads({ prefix, filter, cursor, limit }) {
      const f = validateMetadataFilter(filter);
      if (f !== undefined && Object.keys(f).length > 0) return byFilter(f, prefix, cursor, limit);
      const page = await listThreads(o.db, o.generation, { limit, ...(prefix ? { prefix } : {}), ...(cursor === undefined ? {} : { cursor }) }, await projection.resolveLayout());
      return { threads: page.threads.map((t) => threadRow(t.threadId, t.head, t.namespaces)), ...(page.next === undefined ? {} : { next: page.next }) };
    },

    async thread(threadId, { before, limit }) {
      validateThreadId(threadId);
      if (before !== undefined) validateCheckpointId(before);
      const recs = await projection.listCheckpoints(threadId, undefined, { limit: limit + 1, ...(before === undefined ? {} : { before }) });
      const rows = await withWrites(recs.slice(0, limit));
      return { checkpoints: rows, ...(recs.length > limit ? { next: rows.at(-1)!.checkpointId } : {}) };
    },

    async checkpoint(threadId, ns, checkpointId) {
      validateThreadId(threadId);
      validateCheckpointNs(ns);
      validateCheckpointId(checkpointId);
      const [cp, rec, writes] = await Promise.all([
        load(threadId, ns, checkpointId),
        projection.getCheckpoint(threadId, ns, checkpointId),
        projection.getWrites(threadId, ns, checkpointId),
      ]);
      if (rec === undefined) throw new ThreadlogError('not-found', `checkpoint ${checkpointId} of thread ${threadId} is not in the projection`);
      const paths = new Map(writes.map((w) => [w.taskId, w.taskPath]));
      const tasks = new Map<string, string[]>();
      for (const w of cp.pendingWrites) tasks.set(w.taskId, [...(tasks.get(w.taskId) ?? []), w.channel]);
      return {
        row: checkpointRow(rec, writes),
        state: toPlain(cp.checkpoint.channel_values),
        channelVersions: toPlain(cp.checkpoint.channel_versions),
        versionsSeen: toPlain(cp.checkpoint.versions_seen),
        pendingWrites: cp.pendingWrites.map((w) => ({ taskId: w.taskId, taskPath: paths.get(w.taskId) ?? '', channel: w.channel, value: toPlain(w.value) })),
        tasks: [...tasks].map(([taskId, channels]) => ({ taskId, taskPath: paths.get(taskId) ?? '', channels })),
      };
    },

    async diff(threadId, ns, checkpointId) {
      validateThreadId(threadId);
      validateCheckpointNs(ns);
      validateCheckpointId(checkpointId);
      const cp = await load(threadId, ns, checkpointId);
      const parent = cp.parentCheckpointId === undefined ? undefined : await load(threadId, ns, cp.parentCheckpointId);
      const before = parent === undefined ? {} : (toPlain(parent.checkpoint.channel_values) as Record<string, unknown>);
      return { parentCheckpointId: cp.parentCheckpointId ?? null, ...diffStates(before, toPlain(cp.checkpoint.channel_values) as Record<string, unknown>) };
    },

    audit(threadId) {
      validateThreadId(threadId);
      // one audit of a thread at a time: a second viewer asking meanwhile gets the same answer
      let running = audits.get(threadId);
      if (running) return running;
      running = (async () => {
        const log = await readThreadLog({ kafka: o.kafka, topic: o.topic, threadId, codec, partitions: o.partitions, groupPrefix: 'threadlog-ui' });
        const applied = await projection.getAppliedOffsets(o.topic);
        const through = applied.get(log.partition);
        const appliedThrough = through === undefined ? undefined : Number(through);
        const report = await createAuditor(o.db, o.generation, await projection.resolveLayout()).audit(threadId, log, applied);
        return { ...eventStatuses(report, log.events, appliedThrough), partition: log.partition, endOffset: log.endOffset, appliedThrough: appliedThrough ?? null, unreadable: log.unreadable.length };
      })().finally(() => audits.delete(threadId));
      audits.set(threadId, running);
      return running;
    },

    async lag(partition) {
      const a = await connectedAdmin();
      const [offsets, applied] = await Promise.all([
        a.fetchTopicOffsets(o.topic).catch((e: unknown) => {
          throw mapKafkaError(e, `reading the offsets of ${o.topic}`, 'kafka-unavailable');
        }),
        projection.getAppliedOffsets(o.topic),
      ]);
      return offsets
        .filter((p) => partition === undefined || p.partition === partition)
        .map((p) => {
          const end = Number(p.high);
          const done = applied.has(p.partition) ? Number(applied.get(p.partition)) : Number(p.low) - 1;
          return { partition: p.partition, endOffset: end, applied: applied.has(p.partition) ? done : -1, lag: Math.max(0, end - 1 - done) };
        })
        .sort((x, y) => x.partition - y.partition);
    },

    async close() {
      await admin?.disconnect().catch(() => undefined);
      admin = undefined;
    },
  };
}

export const partitionOfThread = (threadId: string, partitions: number): number => partitionFor(threadId, partitions);
