/**
 * The read path: L1 (immutable entries) → L2 Redis → L3 MongoDB, misses filling the levels
 * above. A head (the latest checkpoint of a thread) is mutable, so it is only taken from
 * Redis when its position proves it recent enough for the read's consistency; otherwise
 * from MongoDB once the projector's watermark reached what the read requires.
 */
import type { LogPosition } from '../events/types.ts';
import type { ProjectionStore } from '../mongo/projection-store.ts';
import type { CheckpointRecord, WriteRecord } from '../mongo/records.ts';
import type { RedisCache } from '../redis/cache.ts';
import type { Assembler } from './assemble.ts';
import { decodeEntry, encodeEntry, type CacheEntry } from './entry.ts';
import type { L1Cache } from './l1-cache.ts';
import type { StoreMetrics } from './metrics.ts';
import type { RedisGuard } from './redis-guard.ts';
import type { Requirement } from './requirements.ts';
import { maxOffset, type SessionTracker } from './session.ts';
import type { CacheLevel, StoredCheckpoint } from './types.ts';
import type { WatermarkWaiter } from './watermarks.ts';

export interface Served {
  value: StoredCheckpoint | undefined;
  level: CacheLevel | 'none';
}

export interface ProjectedHead {
  checkpointId: string;
  position: LogPosition;
  /** Redis' head payload, when it came from Redis */
  payload?: Buffer;
}

export interface Reader {
  /** `l2Payload`: a head payload read from Redis already (used when it is this checkpoint's entry) */
  byId(threadId: string, ns: string, checkpointId: string, req: Requirement, l2Payload?: Buffer): Promise<Served>;
  latest(threadId: string, ns: string, req: Requirement): Promise<Served>;
  /**
   * The projected head as it is now, without waiting: Redis when it answers, else MongoDB.
   * Undefined when there is none or this instance knows it deleted.
   */
  projectedHead(threadId: string, ns: string): Promise<ProjectedHead | undefined>;
  /**
   * A listed page's entries, in order: those not in L1 are assembled with their pending writes
   * read in one query per (thread, namespace) rather than one per checkpoint (`byThread`, for a
   * page of one thread's timeline: its checkpoints are contiguous, so the range holds little
   * else; a cross-thread page may hold far-apart checkpoints of a thread and reads per record).
   * Settled one by one: a checkpoint that cannot be assembled fails only its own entry.
   */
  fromRecords(recs: readonly CheckpointRecord[], waitFor: (partition: number) => bigint, options?: { byThread?: boolean }): Promise<Array<PromiseSettledResult<StoredCheckpoint>>>;
  /** warm L1 and L2 for one record; returns its entry */
  warm(rec: CheckpointRecord, wait: bigint, asHead: boolean): Promise<CacheEntry>;
  /** false when this instance knows the thread was deleted at or after `position` */
  alive(threadId: string, position: LogPosition): boolean;
  counts: { hits: Record<CacheLevel, number>; misses: Record<CacheLevel, number> };
  /** count a read served elsewhere (the write-through record) as a hit of `level` */
  countHit(level: CacheLevel): void;
  /** background L2 fills still running (close() waits for them) */
  settle(): Promise<void>;
}

export interface ReaderDeps {
  projection: ProjectionStore;
  cache: RedisCache | undefined;
  guard: RedisGuard;
  l1: L1Cache;
  assembler: Assembler;
  session: SessionTracker;
  waiter: WatermarkWaiter;
  metrics: StoreMetrics;
}

export function createReader(d: ReaderDeps): Reader {
  const counts = { hits: { l1: 0, l2: 0, l3: 0 }, misses: { l1: 0, l2: 0, l3: 0 } };
  const background = new Set<Promise<unknown>>();
  const hit = (l: CacheLevel): void => {
    counts.hits[l]++;
    d.metrics.hit(l);
  };
  const miss = (l: CacheLevel): void => {
    counts.misses[l]++;
    d.metrics.miss(l);
  };
  const later = (p: Promise<unknown>): void => {
    background.add(p);
    void p.finally(() => background.delete(p));
  };

  function alive(threadId: string, position: LogPosition): boolean {
    const tomb = d.session.deletedAt(threadId);
    return tomb === undefined || tomb.partition !== position.partition || BigInt(position.offset) > BigInt(tomb.offset);
  }

  /** the entry's pending writes reflect at least what the read requires */
  const fresh = (e: CacheEntry, wait: bigint): boolean => BigInt(e.writesAsOf) >= wait;

  /** a lower bound of what MongoDB reflects now, taken before reading it */
  const asOfNow = (partition: number, wait: bigint): bigint => maxOffset(wait, d.waiter.known(partition));

  function storeL2(e: CacheEntry, buf: Buffer, asHead: boolean): void {
    const cache = d.cache;
    if (cache === undefined) return;
    later(d.guard.call('caching a checkpoint', () => cache.setCheckpoint(e.threadId, e.checkpointNs, e.checkpointId, e.position, buf)));
    if (asHead) {
      later(d.guard.call('advancing a head', () => cache.advanceHead(e.threadId, e.checkpointNs, { checkpointId: e.checkpointId, position: e.position }, buf)));
    }
  }

  function keep(e: CacheEntry, toL2: boolean, asHead = false): Buffer {
    const buf = encodeEntry(e);
    d.l1.setCheckpoint(e.threadId, e.checkpointNs, e.checkpointId, buf);
    if (toL2) storeL2(e, buf, asHead);
    return buf;
  }

  /** an entry from a cache level, with stale pending writes re-read; undefined if unusable */
  async function usable(buf: Buffer | undefined, id: string, wait: bigint): Promise<{ entry: CacheEntry; refreshed: boolean } | undefined> {
    const e = buf === undefined ? undefined : decodeEntry(buf);
    if (e === undefined || e.checkpointId !== id || !alive(e.threadId, e.position)) return undefined;
    if (fresh(e, wait)) return { entry: e, refreshed: false };
    const refreshed = await d.assembler.refreshWrites(e, asOfNow(e.position.partition, wait));
    keep(refreshed, true);
    return { entry: refreshed, refreshed: true };
  }

  async function cachedEntry(threadId: string, ns: string, id: string, wait: bigint, l2Payload?: Buffer): Promise<{ entry: CacheEntry; level: CacheLevel } | undefined> {
    const fromL1 = await usable(d.l1.getCheckpoint(threadId, ns, id), id, wait);
    if (fromL1) {
      hit('l1');
      return { entry: fromL1.entry, level: fromL1.refreshed ? 'l3' : 'l1' };
    }
    miss('l1');
    const cache = d.cache;
    if (cache === undefined) return undefined;
    let payload = l2Payload !== undefined && decodeEntry(l2Payload)?.checkpointId === id ? l2Payload : undefined;
    if (payload === undefined) {
      const r = await d.guard.call('reading a checkpoint', () => cache.getCheckpoint(threadId, ns, id));
      payload = r.ok ? r.value : undefined;
    }
    const fromL2 = await usable(payload, id, wait);
    if (!fromL2) {
      miss('l2');
      return undefined;
    }
    hit('l2');
    if (!fromL2.refreshed) d.l1.setCheckpoint(threadId, ns, id, payload!);
    return { entry: fromL2.entry, level: fromL2.refreshed ? 'l3' : 'l2' };
  }

  async function warm(rec: CheckpointRecord, wait: bigint, asHead: boolean): Promise<CacheEntry> {
    const entry = await d.assembler.assemble(rec, asOfNow(rec.position.partition, wait));
    keep(entry, true, asHead);
    return entry;
  }

  async function serve(entry: CacheEntry, level: CacheLevel): Promise<Served> {
    return { value: await d.assembler.toStored(entry), level };
  }

  async function byId(threadId: string, ns: string, id: string, req: Requirement, l2Payload?: Buffer): Promise<Served> {
    const cached = await cachedEntry(threadId, ns, id, req.wait, l2Payload);
    if (cached) return serve(cached.entry, cached.level);
    const asOf = asOfNow(req.partition, req.wait);
    const rec = await d.projection.getCheckpoint(threadId, ns, id);
    if (rec === undefined || !alive(threadId, rec.position)) {
      miss('l3');
      return { value: undefined, level: 'none' };
    }
    hit('l3');
    const entry = await d.assembler.assemble(rec, asOf);
    keep(entry, true);
    return serve(entry, 'l3');
  }

  async function latest(threadId: string, ns: string, req: Requirement): Promise<Served> {
    const cache = d.cache;
    if (cache !== undefined) {
      const r = await d.guard.call('reading a head', () => cache.getHead(threadId, ns));
      const head = r.ok ? r.value : undefined;
      if (head !== undefined && alive(threadId, head.position) && BigInt(head.position.offset) >= req.head) {
        hit('l2');
        const served = await byId(threadId, ns, head.checkpointId, req, head.payload);
        if (served.value !== undefined) return served;
      } else miss('l2');
    }
    const asOf = asOfNow(req.partition, req.wait);
    const rec = await d.projection.getHead(threadId, ns);
    if (rec === undefined || !alive(threadId, rec.position)) {
      miss('l3');
      return { value: undefined, level: 'none' };
    }
    hit('l3');
    // the head document is a copy of the checkpoint: its body may already be in L1
    const inL1 = await usable(d.l1.getCheckpoint(threadId, ns, rec.checkpointId), rec.checkpointId, req.wait);
    const entry = inL1?.entry ?? (await d.assembler.assemble(rec, asOf));
    const buf = inL1 ? encodeEntry(entry) : keep(entry, false);
    storeL2(entry, buf, true);
    return serve(entry, 'l3');
  }

  async function projectedHead(threadId: string, ns: string): Promise<ProjectedHead | undefined> {
    const cache = d.cache;
    const r = cache === undefined ? undefined : await d.guard.call('reading a head', () => cache.getHead(threadId, ns));
    const head = r?.ok ? r.value : await d.projection.getHead(threadId, ns);
    return head !== undefined && alive(threadId, head.position) ? head : undefined;
  }

  return {
    byId,
    latest,
    projectedHead,
    async fromRecords(recs, waitFor, { byThread = true } = {}) {
      const cached = await Promise.all(recs.map((r) => usable(d.l1.getCheckpoint(r.threadId, r.checkpointNs, r.checkpointId), r.checkpointId, waitFor(r.position.partition))));
      // lower bounds of what MongoDB reflects, taken before its writes are read
      const asOf = recs.map((r) => asOfNow(r.position.partition, waitFor(r.position.partition)));
      const groups = new Map<string, CheckpointRecord[]>();
      recs.forEach((r, i) => {
        if (cached[i]) return;
        const k = byThread ? JSON.stringify([r.threadId, r.checkpointNs]) : String(i);
        const group = groups.get(k);
        if (group) group.push(r);
        else groups.set(k, [r]);
      });
      const writes = new Map<CheckpointRecord, readonly WriteRecord[]>();
      await Promise.all(
        [...groups.values()].map(async (group) => {
          const { threadId, checkpointNs } = group[0]!;
          const byId = await d.projection.getWritesOf(threadId, checkpointNs, group.map((r) => r.checkpointId));
          for (const r of group) writes.set(r, byId.get(r.checkpointId) ?? []);
        }),
      );
      // one checkpoint that cannot be assembled (a broken delta chain) fails only itself
      return Promise.allSettled(
        recs.map(async (rec, i) => {
          const inL1 = cached[i];
          if (inL1) {
            hit('l1');
            return d.assembler.toStored(inL1.entry);
          }
          miss('l1');
          const entry = await d.assembler.assemble(rec, asOf[i]!, writes.get(rec));
          keep(entry, true);
          return d.assembler.toStored(entry);
        }),
      );
    },
    warm,
    alive,
    counts,
    countHit: hit,
    async settle() {
      while (background.size > 0) await Promise.allSettled([...background]);
    },
  };
}
