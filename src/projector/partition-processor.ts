/**
 * One batch of one partition, from raw records to "applied through offset N": chunk
 * reassembly, decoding, dead letters, ONE MongoDB bulk apply, Redis cache upkeep and the
 * watermark. Knows nothing of kafkajs (projector.ts feeds it and commits what it returns),
 * so the ordering rules below are testable with our own fakes of these ports.
 *
 * Order of effects, and why: dead letters → MongoDB → Redis → watermark → (caller) commit.
 * Every step is idempotent, so a crash anywhere only repeats steps; committing last means a
 * restart re-runs Redis upkeep too, so the cache never misses a head the projection has.
 */
import type { ApplyBatchOptions, BatchResult } from '../mongo/apply.ts';
import type { CheckpointRecord } from '../mongo/records.ts';
import { isThreadlogError } from '../errors.ts';
import { createChunkAssembler, type ChunkAssembler, type ChunkAssemblerOptions, type IncompleteSequence, type LogRecord } from '../events/chunks.ts';
import type { EventCodec } from '../events/codec.ts';
import { isThreadEnd, type ChannelVersion, type CheckpointEvent, type LogPosition } from '../events/types.ts';
import type { BrokenDelta } from '../mongo/problem-store.ts';
import { createKnownVersions, lookupGroups, rememberProjected, unresolvedBases, versionKey, type BaseRef } from './missing-bases.ts';
import { headerNames, headerString, keyString } from '../events/wire.ts';
import type { Logger } from '../logger.ts';
import { compareHeads, toPos, type Pos, type PositionedEvent } from '../projection/documents.ts';
import type { RedisCache } from '../redis/cache.ts';
import { toDeadLetter, type DeadLetterRecord, type Poison } from './dead-letter.ts';
import type { ProjectorMetrics } from './metrics.ts';
import { withRetry, type BackoffOptions, type RetryHooks } from './retry.ts';

/** The part of ProjectionStore the projector writes through (tests pass failing fakes). */
export interface ProjectionApplier {
  applyBatch(events: readonly PositionedEvent[], options?: ApplyBatchOptions): Promise<BatchResult>;
}

/** Where the projector checks delta bases and reports the broken ones (missing-bases.ts). */
export interface BaseChecks {
  /** of these (channel, version) pairs of one (thread, ns), the ones the projection holds */
  present(threadId: string, ns: string, versions: ReadonlyArray<readonly [string, ChannelVersion]>): Promise<Array<[string, ChannelVersion]>>;
  record(problems: readonly BrokenDelta[]): Promise<void>;
  /** a thread was deleted: its reports before `before` go with it */
  clearThread(threadId: string, before: Pos): Promise<void>;
  /**
   * true when the projection finds every base itself while applying and returns what it
   * could not (BatchResult.missingBases, layout 2): `present` is then not asked
   */
  resolvedByApplier?(): Promise<boolean>;
}

export type CacheUpkeep = Pick<RedisCache, 'advanceHead' | 'deleteThread' | 'publishWatermarks'> & Partial<Pick<RedisCache, 'syncReplicas'>>;

export interface PartitionProcessorOptions {
  topic: string;
  codec: EventCodec;
  store: ProjectionApplier;
  /** absent: no Redis, only MongoDB is kept */
  cache: CacheUpkeep | undefined;
  sendDeadLetters(records: DeadLetterRecord[]): Promise<void>;
  /** absent: deltas are projected without looking for their bases */
  bases?: BaseChecks;
  /** told of every broken delta found (after it is recorded) */
  onBrokenDeltas?(problems: readonly BrokenDelta[]): void;
  metrics: ProjectorMetrics;
  logger: Logger;
  backoff: BackoffOptions;
  assembler?: Partial<ChunkAssemblerOptions>;
  /**
   * At most this many distinct threads per MongoDB apply; a bigger batch is applied in
   * slices, in log order. FerretDB 1.24 on PostgreSQL holds one pooled connection per
   * matched update until the whole command ends (infra/README.md), and a heads bulk has
   * ~2 updates per thread: unbounded, a few concurrent backlog batches exhaust its pool and
   * every client of that FerretDB hangs for good. Also bounds the cost of one retry.
   */
  maxThreadsPerApply?: number;
  /**
   * At most this many events per MongoDB apply: a redelivered batch falls back to one
   * upsert per document (checkpoint, each blob, each write), all matching existing ones.
   */
  maxEventsPerApply?: number;
}

// Unbounded by default: every apply pays fixed round trips (the tombstone `$in` read is a full
// scan on FerretDB 1.x), and small slices measured too slow (the crash test's 6,000 events
// no longer caught up in 150 s with 16/24). Bound them only where the pool is the risk; the
// lasting fix is to cut the bulks into small commands inside src/mongo.
export const defaultMaxThreadsPerApply = Infinity;
// (thread, ns) groups of delta bases looked up at once (missing-bases.ts)
const LOOKUP_CONCURRENCY = 8;
export const defaultMaxEventsPerApply = Infinity;

export interface ProcessedBatch {
  /** highest offset applied together with every offset before it; undefined: none yet */
  through: string | undefined;
  events: number;
  deadLettered: number;
}

export interface PartitionProcessor {
  process(partition: number, records: readonly LogRecord[], hooks: RetryHooks): Promise<ProcessedBatch>;
  /** forget a partition's open chunk sequences (revoked, or about to be re-read) */
  drop(partition: number): void;
  dropAll(): void;
}

interface PartitionState {
  assembler: ChunkAssembler;
  /** records of open chunk sequences, kept (by reference) so a broken one is dead-lettered whole */
  retained: Map<string, LogRecord[]>;
  lastOffset: bigint;
}

const sequenceKey = (key: string | null, chunkId: string | undefined): string => `${key ?? ''}\u0000${chunkId ?? ''}`;

/** What the cache holds for a checkpoint: the same shape MongoDB reads return. */
export function checkpointCacheEntry(e: CheckpointEvent, position: LogPosition): string {
  const record: CheckpointRecord = {
    threadId: e.threadId,
    checkpointNs: e.checkpointNs,
    checkpointId: e.checkpointId,
    parentCheckpointId: e.parentCheckpointId,
    checkpoint: e.checkpoint,
    metadata: e.metadata,
    eventId: e.eventId,
    ts: e.ts,
    position,
  };
  return JSON.stringify(record);
}

/** Consecutive slices of the batch, each within both bounds; always one or more. */
export function slices(events: readonly PositionedEvent[], maxThreads: number, maxEvents = Infinity): PositionedEvent[][] {
  const out: PositionedEvent[][] = [[]];
  let threads = new Set<string>();
  for (const e of events) {
    if ((!threads.has(e.event.threadId) && threads.size >= maxThreads) || out[out.length - 1]!.length >= maxEvents) {
      out.push([]);
      threads = new Set();
    }
    threads.add(e.event.threadId);
    out[out.length - 1]!.push(e);
  }
  return out;
}

export function createPartitionProcessor(o: PartitionProcessorOptions): PartitionProcessor {
  const states = new Map<number, PartitionState>();
  const log = o.logger.child({ component: 'projector', topic: o.topic });
  // versions this processor projected lately: their deltas need no lookup
  const known = createKnownVersions();

  /** appends of the batch whose base is neither earlier in it nor in the projection */
  async function missingBases(events: readonly PositionedEvent[], hooks: RetryHooks): Promise<BaseRef[]> {
    const bases = o.bases;
    if (bases === undefined || (await bases.resolvedByApplier?.())) return [];
    const unresolved = unresolvedBases(events, known);
    if (unresolved.length === 0) return [];
    const found = new Set<string>();
    const groups = lookupGroups(unresolved);
    let next = 0;
    // a few lookups at a time: after a restart every thread's first delta is looked up once
    await Promise.all(
      Array.from({ length: Math.min(LOOKUP_CONCURRENCY, groups.length) }, async () => {
        while (next < groups.length) {
          const g = groups[next++]!;
          const present = await withRetry('mongo', () => bases.present(g.threadId, g.checkpointNs, g.versions), hooks, o.backoff);
          for (const [channel, version] of present) found.add(JSON.stringify([g.threadId, versionKey(g.checkpointNs, channel, version)]));
        }
      }),
    );
    return unresolved.filter((r) => !found.has(JSON.stringify([r.threadId, versionKey(r.checkpointNs, r.channel, r.base)])));
  }

  async function reportBroken(missing: readonly BaseRef[], events: readonly PositionedEvent[], hidden: ReadonlySet<number>, hooks: RetryHooks): Promise<void> {
    const bases = o.bases;
    if (bases === undefined) return;
    const now = Date.now();
    const problems: BrokenDelta[] = missing
      .filter((r) => !hidden.has(r.event))
      .map((r) => ({
        threadId: r.threadId,
        checkpointNs: r.checkpointNs,
        checkpointId: r.checkpointId,
        channel: r.channel,
        version: r.version,
        base: r.base,
        pos: toPos(events[r.event]!.position),
        message: `channel "${r.channel}" version ${String(r.version)} appends to version ${String(r.base)}, which is not in the projection (nor earlier in the log): checkpoint ${r.checkpointId} cannot be read`,
        detectedAt: now,
      }));
    if (problems.length > 0) {
      await withRetry('mongo', () => bases.record(problems), hooks, o.backoff);
      for (const p of problems) {
        o.metrics.countBrokenDelta();
        log.warn({ threadId: p.threadId, checkpointNs: p.checkpointNs, checkpointId: p.checkpointId, channel: p.channel, version: p.version, base: p.base, partition: p.pos.partition, offset: p.pos.offset }, 'delta without its base: this checkpoint cannot be read (see docs/operations.md "Broken delta chains")');
      }
      o.onBrokenDeltas?.(problems);
    }
    for (const [i, { event, position }] of events.entries()) {
      if (isThreadEnd(event) && !hidden.has(i)) await withRetry('mongo', () => bases.clearThread(event.threadId, toPos(position)), hooks, o.backoff);
    }
  }

  function stateFor(partition: number, firstOffset: bigint): PartitionState {
    let st = states.get(partition);
    // A batch starting at or before what we already fed the assembler is a re-read (a
    // rebalance or retry restarts at the committed offset, which is never past an open
    // sequence): start the assembler afresh, or it would see the same chunks twice.
    if (st && firstOffset <= st.lastOffset) st = undefined;
    if (!st) {
      st = { assembler: createChunkAssembler(o.assembler), retained: new Map(), lastOffset: -1n };
      states.set(partition, st);
    }
    return st;
  }

  function brokenSequence(st: PartitionState, inc: IncompleteSequence, current: LogRecord): Poison[] {
    const k = sequenceKey(inc.key, inc.chunkId);
    const seen = st.retained.get(k) ?? [];
    st.retained.delete(k);
    const wanted = new Set(inc.offsets);
    const records = [...seen, current].filter((r, i, all) => wanted.has(r.offset) && all.indexOf(r) === i);
    return records.map((record) => ({ record, reason: `incomplete-chunks:${inc.reason}`, message: inc.error.message }));
  }

  async function decode(partition: number, complete: LogRecord[], poison: Poison[]): Promise<PositionedEvent[]> {
    const decoded = await Promise.all(
      complete.map(async (record) => {
        try {
          const { event, raw } = await o.codec.decodeWithRaw(record);
          const logged: PositionedEvent = { event, raw, position: { partition, offset: record.offset } };
          return logged;
        } catch (e) {
          if (!isThreadlogError(e)) throw e;
          poison.push({ record, reason: e.code, message: e.message });
          return undefined;
        }
      }),
    );
    return decoded.filter((e): e is PositionedEvent => e !== undefined);
  }

  async function deadLetter(partition: number, poison: Poison[], hooks: RetryHooks): Promise<void> {
    if (poison.length === 0) return;
    poison.sort((a, b) => (BigInt(a.record.offset) < BigInt(b.record.offset) ? -1 : 1));
    const now = Date.now();
    await withRetry('kafka', () => o.sendDeadLetters(poison.map((p) => toDeadLetter(o.topic, partition, p, now))), hooks, o.backoff);
    for (const p of poison) {
      o.metrics.countDeadLetter(p.reason);
      log.warn({ partition, offset: p.record.offset, reason: p.reason, message: p.message }, 'poison record sent to the dead-letter topic');
    }
  }

  /**
   * One bulk apply; when MongoDB refuses it (not "unavailable": a document it cannot store),
   * events are applied one by one so only the refused ones become poison. If every event of
   * a multi-event batch is refused, the cause is the server, not the events: rethrown.
   */
  async function apply(
    partition: number,
    events: PositionedEvent[],
    records: ReadonlyMap<string, LogRecord>,
    through: bigint,
    hooks: RetryHooks,
  ): Promise<BatchResult | undefined> {
    const options: ApplyBatchOptions = through >= 0n ? { topic: o.topic, through: [{ partition, offset: String(through) }] } : {};
    const once = (evs: readonly PositionedEvent[], opts: ApplyBatchOptions): Promise<BatchResult> =>
      withRetry('mongo', () => o.store.applyBatch(evs, opts), hooks, o.backoff);
    try {
      return await once(events, options);
    } catch (e) {
      if (!isThreadlogError(e, 'mongo-rejected') || events.length === 0) throw e;
      const refused: Poison[] = [];
      for (const ev of events) {
        await once([ev], { alone: true }).catch((err: unknown) => {
          if (!isThreadlogError(err, 'mongo-rejected')) throw err;
          refused.push({ record: records.get(ev.position.offset)!, reason: err.code, message: err.message });
        });
      }
      if (refused.length === events.length && events.length > 1) throw e;
      await deadLetter(partition, refused, hooks);
      await once([], { ...options, alone: true });
      return undefined;
    }
  }

  /** `hidden`: indexes of events the projection refused as hidden (an erased thread's late ones get no head) */
  async function upkeep(cache: CacheUpkeep, events: PositionedEvent[], hidden: ReadonlySet<number> = new Set()): Promise<void> {
    // Every event, applied or not: after a crash between MongoDB and Redis the replayed
    // events are duplicates to MongoDB but still missing from Redis. The scripts' compare-
    // and-set and tombstones make this order-free and idempotent.
    // Once per thread and namespace per batch: the newest head (readers assemble and cache the
    // checkpoint entries themselves, so none is written here), plus deletes. The commands go
    // out together on the connection (ioredis does not wait for one reply to send the next).
    const ops: Array<Promise<unknown>> = [];
    const heads = new Map<string, { e: CheckpointEvent; position: LogPosition }>();
    for (const [i, { event: e, position }] of events.entries()) {
      if (isThreadEnd(e)) ops.push(cache.deleteThread(e.threadId, position));
      if (e.type !== 'checkpoint' || hidden.has(i)) continue;
      const k = sequenceKey(e.threadId, e.checkpointNs);
      const cur = heads.get(k);
      const order = (h: { e: CheckpointEvent; position: LogPosition }) => ({ checkpointId: h.e.checkpointId, pos: toPos(h.position) });
      if (!cur || compareHeads(order({ e, position }), order(cur)) > 0) heads.set(k, { e, position });
    }
    for (const h of heads.values()) ops.push(cache.advanceHead(h.e.threadId, h.e.checkpointNs, { checkpointId: h.e.checkpointId, position: h.position }, checkpointCacheEntry(h.e, h.position)));
    await Promise.all(ops);
    // Redis Cluster: on a replica too before the batch is claimed, or a master killed now
    // would take the new heads along; a failure here redoes this (idempotent) upkeep
    await cache.syncReplicas?.();
  }

  async function process(partition: number, records: readonly LogRecord[], hooks: RetryHooks): Promise<ProcessedBatch> {
    const last = records[records.length - 1];
    if (!last) return { through: undefined, events: 0, deadLettered: 0 };
    const st = stateFor(partition, BigInt(records[0]!.offset));
    const poison: Poison[] = [];
    const complete: LogRecord[] = [];
    for (const record of records) {
      const r = st.assembler.add(record);
      for (const inc of r.incomplete) poison.push(...brokenSequence(st, inc, record));
      if (r.kind === 'complete') {
        complete.push(r.record);
        if (r.record.chunks > 1) st.retained.delete(sequenceKey(keyString(record.key), headerString(record.headers, headerNames.chunkId)));
      } else if (r.kind === 'pending') {
        const k = sequenceKey(keyString(record.key), headerString(record.headers, headerNames.chunkId));
        st.retained.set(k, [...(st.retained.get(k) ?? []), record]);
      }
    }
    st.lastOffset = BigInt(last.offset);
    const events = await decode(partition, complete, poison);
    const deadLettered = poison.length;
    await deadLetter(partition, poison, hooks);

    // Never claim past an open chunk sequence: its first chunks are not applied yet.
    const pending = st.assembler.lowestPendingOffset();
    let through = BigInt(last.offset);
    if (pending !== undefined && BigInt(pending) - 1n < through) through = BigInt(pending) - 1n;

    // MongoDB slice by slice in log order; each slice's Redis upkeep runs beside the next
    // slice's MongoDB apply (it only needs its own slice in MongoDB first). The offsets and
    // the watermark go with the last slice, after every upkeep: claims stay last.
    const recordsByOffset = new Map(complete.map((r) => [r.offset, r]));
    const missing = await missingBases(events, hooks);
    // events the projection refused as hidden by a tombstone: not projected, nothing to report
    const hidden = new Set<number>();
    let sliceStart = 0;
    const parts = slices(events, o.maxThreadsPerApply ?? defaultMaxThreadsPerApply, o.maxEventsPerApply ?? defaultMaxEventsPerApply);
    const upkeeps: Array<Promise<void>> = [];
    try {
      for (const [i, part] of parts.entries()) {
        const last = i === parts.length - 1;
        if (part.length === 0 && !(last && through >= 0n)) continue;
        const result = await apply(partition, part, recordsByOffset, last ? through : -1n, hooks);
        if (result) o.metrics.countDocuments(result.counts);
        const hiddenHere = new Set<number>();
        result?.results.forEach((r, j) => {
          o.metrics.countApplied(part[j]!.event.type, r.applied);
          if (!r.applied && r.reason === 'tombstoned') {
            hidden.add(sliceStart + j);
            hiddenHere.add(j);
          }
        });
        for (const m of result?.missingBases ?? []) missing.push({ ...m, event: sliceStart + m.event });
        sliceStart += part.length;
        log.debug({ partition, through: String(through), slice: i, counts: result?.counts }, 'batch applied');
        if (o.cache && part.length > 0) {
          const cache = o.cache;
          const done = withRetry('redis', () => upkeep(cache, part, hiddenHere), hooks, o.backoff);
          // awaited below; handled now so a failure meanwhile is not an unhandled rejection
          done.catch(() => undefined);
          upkeeps.push(done);
        }
      }
    } finally {
      // never leave an upkeep running behind a failed or abandoned batch
      await Promise.allSettled(upkeeps);
    }
    await Promise.all(upkeeps);
    await reportBroken(missing, events, hidden, hooks);
    rememberProjected(events, known);
    if (o.cache && through >= 0n) {
      const cache = o.cache;
      // after the entries: a reader that sees the watermark finds the heads it covers
      await withRetry('redis', () => cache.publishWatermarks(o.topic, [{ partition, offset: String(through) }]), hooks, o.backoff);
      log.debug({ partition, through: String(through) }, 'cache upkept');
    }
    return { through: through >= 0n ? String(through) : undefined, events: events.length, deadLettered };
  }

  return {
    process,
    drop: (partition) => states.delete(partition),
    dropAll: () => {
      states.clear();
      known.clear();
    },
  };
}
